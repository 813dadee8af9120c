"""Schema versions on PostgreSQL: state of every earlier version upgrades, v1 receipts move and verify."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.state.make_fixtures import SAMPLE
from tests.pgserver import PostgresServer
from tests.receipts.test_migration import make_v1
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, ReceiptStoreError, make_entry
from tollhouse.state.db import MIGRATIONS, StateError
from tollhouse.store.migrate import migrate_sqlite_to_pg
from tollhouse.store.receipts_pg import verify_pg
from tollhouse.store.state_pg import PG_MIGRATIONS, SyncState


def _state_at(url: str, version: int) -> None:
    """A database as a tollhouse of state schema ``version`` left it, with that version's sample rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE tollhouse_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
        )
        for step in PG_MIGRATIONS[:version]:
            conn.execute(step)
        for v in range(1, version + 1):
            for sql in SAMPLE[v]:
                conn.execute(sql)
        conn.execute("INSERT INTO tollhouse_state VALUES (1, %s)", (version,))


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
def test_state_of_every_earlier_version_upgrades_and_keeps_its_rows(
    pg_server: PostgresServer, version: int
) -> None:
    url = pg_server.url(f"state_v{version}")
    _state_at(url, version)
    SyncState(url).close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM tollhouse_state").fetchone() == (len(MIGRATIONS),)
        assert conn.execute("SELECT id, tool FROM grants").fetchall() == [("g1", "files_*")]
        facts = conn.execute("SELECT object, status FROM facts ORDER BY id").fetchall()
        assert facts == ([("3", "accepted"), ("5", "proposed")] if version >= 2 else [])
        assert conn.execute("SELECT count(*) FROM handoffs").fetchone() == ((1,) if version >= 3 else (0,))
        assert conn.execute("SELECT count(*) FROM github_pins").fetchone() == (0,)  # the new table, empty


def test_state_newer_than_this_tollhouse_is_refused(pg_url: str) -> None:
    _state_at(pg_url, len(MIGRATIONS))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE tollhouse_state SET version = 99")
    with pytest.raises(StateError, match="schema version 99, newer than this tollhouse understands"):
        SyncState(pg_url)


def test_a_v1_receipt_store_moves_to_postgresql_with_its_v1_signatures(state_dir: Path, pg_url: str) -> None:
    make_v1(state_dir)  # 10 entries, two v1 checkpoints, no Merkle tree
    done = migrate_sqlite_to_pg(state_dir, pg_url)
    assert (done.copied, done.result.ok, done.result.checkpoints) == (10, True, 2)

    async def grow() -> None:
        store = await ReceiptStore.open(state_dir, redactor=Redactor(), url=pg_url)
        await store.append(make_entry("event", None, message="on postgresql now"))
        await store.close()

    asyncio.run(grow())
    [log] = verify_pg(pg_url)
    assert (log.result.ok, log.result.count, log.result.checkpoints) == (True, 11, 3)  # 2 v1 + 1 note
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the v1 signatures still catch an edit
        schema = f"log_{log.log_id}"
        conn.execute(f"DROP TRIGGER receipts_append_only ON {schema}.receipts")
        conn.execute(f"UPDATE {schema}.receipts SET tool = 'x' WHERE seq = 4")
    assert verify_pg(pg_url)[0].result.first_bad_seq == 4


def test_a_log_written_by_a_newer_tollhouse_is_refused(state_dir: Path, pg_url: str) -> None:
    async def open_and_close() -> None:
        store = await ReceiptStore.open(state_dir, redactor=Redactor(), url=pg_url)
        await store.close()

    asyncio.run(open_and_close())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE tollhouse_logs SET schema_version = 9")
    with pytest.raises(
        ReceiptStoreError, match=r"written by a newer tollhouse \(schema 9\); upgrade tollhouse"
    ):
        asyncio.run(open_and_close())
