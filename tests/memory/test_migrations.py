from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tollhouse.state import cases, memory, memory_query
from tollhouse.state.db import MIGRATIONS, StateDB, StateError, open_sync

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "state"
VERSIONS = sorted(
    int(m.group(1)) for p in FIXTURES.glob("state-v*.db") if (m := re.match(r"state-v(\d+)\.db", p.name))
)

pytestmark = pytest.mark.anyio


def test_every_schema_version_has_a_fixture() -> None:
    assert VERSIONS == list(range(1, len(MIGRATIONS) + 1)), (
        "add tests/fixtures/state/state-vN.db for a new migration"
    )


@pytest.mark.parametrize("version", VERSIONS)
async def test_fixture_migrates_to_latest_keeping_data(tmp_path: Path, version: int) -> None:
    path = tmp_path / "state.db"
    shutil.copy(FIXTURES / f"state-v{version}.db", path)
    conn = open_sync(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert [tuple(r) for r in conn.execute("SELECT id, created_by FROM grants")] == [("g1", "operator:ann")]
    conn.close()
    state = await StateDB.open(path)
    try:
        # The migrated database works end to end: search (FTS kept in step), review, cases.
        found = await memory_query.search(state, "kafka", statuses=["accepted", "proposed"])
        assert len(found.facts) == (2 if version >= 2 else 0)
        fact = await memory.add_fact(state, subject="kafka", predicate="zk", object="none", author="o")
        assert [f.id for f in (await memory_query.search(state, "zk", statuses=["proposed"])).facts] == [
            fact.id
        ]
        if version >= 2:
            await memory.review(state, 2, accept=True, reviewer="o")
            assert [c.predicate for c in await memory_query.contradictions(state)] == ["brokers"]
        if version >= 3:
            assert [h.summary for h in await cases.handoffs(state, "c1")] == ["ordered machines"]
        await cases.open_case(state, title="new", case_id="c9", author="o")
    finally:
        await state.close()


def test_corrupt_state_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    good = (FIXTURES / f"state-v{len(MIGRATIONS)}.db").read_bytes()
    corrupt = good[:4096] + b"\x00garbage\xff" * 500 + good[9096:]
    path.write_bytes(corrupt)
    with pytest.raises(StateError, match="nothing was changed"):
        open_sync(path)
    assert path.read_bytes() == corrupt
