"""Run as `python -m tests.receipts.proc_helper MODE STATE_DIR [N]` by the multi-process tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry


async def append_many(state_dir: Path, n: int) -> None:
    """Wait for "go" on stdin, then append n entries from 8 concurrent tasks."""
    store = await ReceiptStore.open(state_dir, redactor=Redactor(), checkpoint_every=50)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.to_thread(sys.stdin.readline)

    async def task(t: int) -> None:
        for j in range(n // 8):
            await store.append(make_entry("event", None, tool="probe", message=f"{os.getpid()}:{t}:{j}"))
            # Pace the writers so both processes are certainly appending at the same time: at full
            # speed one process can finish before the other has started, and nothing would race.
            await asyncio.sleep(0.002)

    await asyncio.gather(*(task(t) for t in range(8)))
    await store.close()


async def crash_mid_call(state_dir: Path) -> None:
    """Write a durable intent, start "running the tool", and die by SIGKILL before the outcome."""
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    receipt = await store.append(
        make_entry("intent", "doomed-call", tool="shell_run", arguments={"argv": ["sleep"]})
    )
    sys.stdout.write(f"{receipt.seq}\n")
    sys.stdout.flush()
    await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)


async def intent_then_wait(state_dir: Path) -> None:
    """Write an intent and stay alive (a live server mid-call) until stdin closes."""
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    await store.append(make_entry("intent", "live-call", tool="shell_run"))
    sys.stdout.write("written\n")
    sys.stdout.flush()
    await asyncio.to_thread(sys.stdin.read)
    os._exit(0)  # end without an outcome, as a crash would


if __name__ == "__main__":
    mode, state = sys.argv[1], Path(sys.argv[2])
    if mode == "append":
        asyncio.run(append_many(state, int(sys.argv[3])))
    elif mode == "crash":
        asyncio.run(crash_mid_call(state))
    elif mode == "live":
        asyncio.run(intent_then_wait(state))
