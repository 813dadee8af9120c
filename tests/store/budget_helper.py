"""Run as `python -m tests.store.budget_helper CONFIG N` by the shared-budget test: one server process
that opens the gate, says ready, waits for "go", makes N calls at once as principal ci:bot (a per-principal
budget covers them) and prints each call's status and message."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call


async def main(config_path: Path, n: int) -> None:
    async with await Gate.open(load_config(config_path)) as gate:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        outs = await asyncio.gather(
            *(gate.call(Call("fx_noop", {}, operator="ci:bot", session=None)) for _ in range(n))
        )
        for out in outs:
            print(json.dumps([out.status, out.message]), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
