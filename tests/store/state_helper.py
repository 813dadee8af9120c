"""Run as `python -m tests.store.state_helper CONFIG N` by the grant race test: one server process
that opens the gate, says ready, waits for "go", makes N calls that only a grant lets through, and
prints each call's status."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call


async def main(config_path: Path, n: int) -> None:
    async with await Gate.open(load_config(config_path)) as gate:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        for i in range(n):
            out = await gate.call(Call("fx_note", {"path": f"drafts/{os.getpid()}-{i}.txt", "content": "x"}))
            print(out.status, flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
