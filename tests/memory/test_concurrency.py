from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tollhouse.state import memory, memory_query
from tollhouse.state.db import StateDB

pytestmark = pytest.mark.anyio

N = 300


async def test_two_processes_writing_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    state = await StateDB.open(db)
    race = [
        (
            await memory.add_fact(
                state, subject=f"race{i}", predicate="p", object="o", tags=["race"], author="a"
            )
        ).id
        for i in range(40)
    ]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.memory.writer", str(db), str(N), name, str(go)],
            env=subprocess_env(),
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{n}").exists() for n in ("w1", "w2")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "writers did not start"
        time.sleep(0.01)
    go.touch()  # both are waiting: they now write at the same time
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(tuple(int(x) for x in out.split()))
    async with state.conn.execute(
        "SELECT author, count(*) FROM facts GROUP BY author ORDER BY author"
    ) as cur:
        counts = {r[0]: r[1] for r in await cur.fetchall()}
    assert counts == {"a": 40, "w1": N, "w2": N}
    async with state.conn.execute("SELECT author FROM facts WHERE author != 'a' ORDER BY id") as cur:
        order = [r[0] for r in await cur.fetchall()]
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    print(f"writer switches: {switches}")  # > 1 means the writes really interleaved
    # Every contested proposal was accepted exactly once, by one of the two.
    assert sum(won for won, _ in results) == len(race)
    async with state.conn.execute(
        "SELECT reviewed_by, count(*) FROM facts WHERE status = 'accepted' GROUP BY 1"
    ) as cur:
        reviewers = {r[0]: r[1] for r in await cur.fetchall()}
    assert set(reviewers) <= {"w1", "w2"} and sum(reviewers.values()) == len(race)
    # The full-text index saw every write too.
    assert len((await memory_query.search(state, "w1", statuses=["proposed"], limit=100)).facts) == 100
    await state.close()
