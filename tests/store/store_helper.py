"""Run as `python -m tests.store.store_helper MODE STATE_DIR URL` ("-" for SQLite) by the store tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry


async def flood(store: ReceiptStore) -> None:
    """16 callers, each writing intent then outcome for call after call, until killed. Prints the
    number of its calls with an outcome after every 50, so the parent knows appends are flowing."""

    async def caller(t: int) -> None:
        for j in range(10**9):
            call = f"{os.getpid()}-{t}-{j}"
            await store.append(make_entry("intent", call, tool="files_write", arguments={"n": j}))
            await store.append(make_entry("outcome", call, tool="files_write", outcome="ok"))
            if t == 0 and j % 50 == 49:
                sys.stdout.write(f"{j + 1}\n")
                sys.stdout.flush()

    await asyncio.gather(*(caller(t) for t in range(16)))


async def crash_mid_call(store: ReceiptStore) -> None:
    """A durable intent, then SIGKILL before the outcome (the tool was running)."""
    receipt = await store.append(
        make_entry("intent", "doomed-call", tool="shell_run", arguments={"argv": ["x"]})
    )
    sys.stdout.write(f"{receipt.seq}\n")
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


async def paced(store: ReceiptStore, n: int) -> None:
    """Say ready, wait for "go", then n events from 8 tasks, paced so two processes overlap."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.to_thread(sys.stdin.readline)

    async def task(t: int) -> None:
        for j in range(n // 8):
            await store.append(make_entry("event", None, tool="probe", message=f"{os.getpid()}:{t}:{j}"))
            await asyncio.sleep(0.002)

    await asyncio.gather(*(task(t) for t in range(8)))
    await store.close()


async def main(mode: str, state_dir: Path, url: str | None) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor(), url=url, checkpoint_every=64)
    if mode == "paced":
        await paced(store, 400)
    else:
        await (flood(store) if mode == "flood" else crash_mid_call(store))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), None if sys.argv[3] == "-" else sys.argv[3]))
