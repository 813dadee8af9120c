"""A server process's view of the shared state, for the store tests:
``python -m tests.store.memory_helper STATE_DB URL MODE ARG...`` (URL ``-`` means SQLite only).

- ``review NAME FACT_ID...``: says ready, waits for a line on stdin (so every process reviews at
  once), accepts each fact in turn and prints ``won``, or ``refused: <the refusal>``, for each;
- ``handoff CASE_ID``: opens the case and writes a progress handoff, printing its id.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from tollhouse.state import cases, memory
from tollhouse.state.db import StateDB


async def main(db: Path, url: str, mode: str, *args: str) -> None:
    state = await StateDB.open(db, url=None if url == "-" else url)
    try:
        if mode == "review":
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            for fact_id in args[1:]:
                try:
                    await memory.review(state, int(fact_id), accept=True, reviewer=args[0])
                    print("won", flush=True)
                except memory.FactInputError as exc:
                    print(f"refused: {exc}", flush=True)
        elif mode == "handoff":
            await cases.open_case(state, title="Shared case", author="agent:a", case_id=args[0])
            handoff = await cases.write_handoff(
                state, args[0], kind="progress", summary="half done", author="agent:a", next_steps=["finish"]
            )
            print(handoff.id, flush=True)
        else:
            raise SystemExit(f"unknown mode {mode}")
    finally:
        await state.close()


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), *sys.argv[2:])
