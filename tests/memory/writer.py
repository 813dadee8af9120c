"""A second OS process for concurrency tests: ``python -m tests.memory.writer DB N NAME GO_FILE``.

Signals ready-NAME next to GO_FILE, waits for GO_FILE (so several writers start together), adds N
facts, then tries to accept every proposal tagged ``race``; prints how many it accepted and how many
it found already taken.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio

from tollhouse.state import memory, memory_query
from tollhouse.state.db import StateDB


async def main(db: Path, n: int, name: str, go: Path) -> None:
    state = await StateDB.open(db)
    (go.parent / f"ready-{name}").touch()
    while not go.exists():
        time.sleep(0.005)
    for i in range(n):
        await memory.add_fact(state, subject=f"{name}-{i}", predicate="written_by", object=name, author=name)
    won = lost = 0
    page = await memory_query.search(state, "", statuses=["proposed"], tags=["race"], limit=100)
    for fact in page.facts:
        try:
            await memory.review(state, fact.id, accept=True, reviewer=name)
            won += 1
        except memory.FactInputError:
            lost += 1
    await state.close()
    print(f"{won} {lost}")


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
