"""What only the PostgreSQL store does: many logs in one database, fail closed when the server goes."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import psycopg
import pytest

from tests.gate.conftest import make_config
from tests.pgserver import PostgresServer
from tests.store.conftest import stored_rows
from tollhouse.config import ConfigError
from tollhouse.gate.gate import Gate
from tollhouse.gate.redact import Redactor
from tollhouse.gate.types import Call
from tollhouse.receipts import ReceiptStore, ReceiptStoreError, make_entry
from tollhouse.store import ENV, store_url
from tollhouse.store.receipts_pg import verify_pg

pytestmark = pytest.mark.anyio


async def _write(state_dir: Path, url: str, n: int, tag: str) -> str:
    store = await ReceiptStore.open(state_dir, redactor=Redactor(), url=url, checkpoint_every=10)
    await asyncio.gather(*(store.append(make_entry("event", None, message=f"{tag}{i}")) for i in range(n)))
    await store.close()
    return store.key_id


async def test_each_signing_key_appends_its_own_log_and_verify_checks_every_log(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = []
    for name, n in (("a", 30), ("b", 7), ("c", 1)):
        monkeypatch.setenv("TOLLHOUSE_HOME", str(tmp_path / f"home-{name}"))  # another server, another key
        ids.append(await _write(tmp_path / name / ".tollhouse", pg_url, n, name))
    assert len(set(ids)) == 3
    results = {r.log_id: r.result for r in verify_pg(pg_url)}
    assert sorted(results) == sorted(ids)
    assert [results[i].count for i in ids] == [30, 7, 1]
    assert all(r.ok for r in results.values())
    # One log's history edited (an attacker with the database drops the guard): only it fails.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema = f"log_{ids[1]}"
        conn.execute(f"DROP TRIGGER receipts_append_only ON {schema}.receipts")
        conn.execute(f"UPDATE {schema}.receipts SET message = 'forged' WHERE seq = 3")
    after = {r.log_id: r.result for r in verify_pg(pg_url)}
    assert after[ids[1]].ok is False and after[ids[1]].first_bad_seq == 3
    assert after[ids[0]].ok and after[ids[2]].ok
    # Pinning a key: the store's own registry row is not trusted over the caller's copy.
    pinned = verify_pg(pg_url, log_ids=[ids[0]], keys={ids[0]: b"\x01" * 32})
    assert [r.result.ok for r in pinned] == [False]
    with pytest.raises(ReceiptStoreError, match="no log 0000000000000000"):
        verify_pg(pg_url, log_ids=["0000000000000000"])


async def test_the_store_refuses_updates_and_deletes(pg_url: str, tmp_path: Path) -> None:
    key = await _write(tmp_path / ".tollhouse", pg_url, 3, "x")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for sql in (
            "UPDATE {}.receipts SET message = 'x'",
            "DELETE FROM {}.receipts",
            "DELETE FROM {}.notes",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql.format(f"log_{key}"))
    assert len(stored_rows(pg_url, tmp_path, key)) == 3


async def test_losing_the_database_fails_closed_and_says_why(
    pg_server: PostgresServer, pg_url: str, workspace: Path
) -> None:
    config = make_config(workspace, f'[store]\nurl = "{pg_url}"\n')
    gate = await Gate.open(config)
    try:
        out = await gate.call(Call("fx_note", {"path": "notes/a.txt", "content": "one"}))
        assert out.status == "ok", out.message
        pg_server.stop(remove=False)
        out = await gate.call(Call("fx_note", {"path": "notes/b.txt", "content": "two"}))
        assert out.status == "error"
        assert (
            "receipt store unusable, so nothing was run: cannot connect to the PostgreSQL store"
            in out.message
        )
        assert "check that the server runs" in out.message and "Nothing was recorded" in out.message
        assert not (workspace / "notes" / "b.txt").exists()  # the tool never ran
        pg_server.restart()
        out = await gate.call(Call("fx_note", {"path": "notes/c.txt", "content": "three"}))
        assert out.status == "ok", out.message  # reconnects once the server is back
    finally:
        if not pg_server.running():
            pg_server.restart()
        await gate.close()
    [log] = verify_pg(pg_url)
    assert log.result.ok, log.result.reason
    calls = [r["call_id"] for r in stored_rows(pg_url, workspace, log.log_id) if r["kind"] == "intent"]
    assert len(calls) == 2  # a.txt and c.txt; nothing was recorded for b.txt


def test_store_url_comes_from_the_environment_first_then_the_config(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(workspace, '[store]\nurl = "postgresql://cfg@db/x"\n')
    assert store_url(config) == "postgresql://cfg@db/x"
    monkeypatch.setenv(ENV, "postgresql://env@db/y")
    assert store_url(config) == "postgresql://env@db/y"
    monkeypatch.setenv(ENV, "mysql://env@db/y")
    with pytest.raises(
        ValueError, match=r"TOLLHOUSE_STORE_URL must start with postgresql:// \(got 'mysql'\)"
    ):
        store_url(config)
    monkeypatch.delenv(ENV)
    assert store_url(make_config(workspace)) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('url = "sqlite:///x.db"', "store.url must start with postgresql:// (got 'sqlite')"),
        ("url = 5", "store.url must be a string like postgresql://user@host/db"),
        ('host = "db"', "host"),
    ],
)
def test_a_bad_store_table_is_refused_when_the_config_loads(workspace: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(workspace, f"[store]\n{body}\n")
    assert message in str(caught.value)


async def test_an_unreachable_server_is_refused_at_open_with_the_url_but_not_the_password(
    state_dir: Path,
) -> None:
    url = "postgresql://who:s3cret-pw@127.0.0.1:1/none"
    with pytest.raises(ReceiptStoreError) as caught:
        await ReceiptStore.open(state_dir, redactor=Redactor(), url=url)
    text = str(caught.value)
    assert "cannot connect to the PostgreSQL store postgresql://who@127.0.0.1:1/none" in text
    assert "s3cret-pw" not in text


async def test_a_bad_store_url_in_the_environment_stops_the_gate_instead_of_falling_back(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(workspace)
    monkeypatch.setenv(ENV, "sqlite:///elsewhere.db")
    with pytest.raises(ReceiptStoreError, match="TOLLHOUSE_STORE_URL must start with postgresql://"):
        await Gate.open(config)
    assert not (config.state_dir / "receipts.db").exists()


async def test_the_servers_canonical_json_is_the_entry_hash_text(pg_url: str, tmp_path: Path) -> None:
    """Verify's fast path trusts PostgreSQL's JSON only where it equals Python's encoder, byte for byte."""
    from tollhouse.receipts.schema import entry_hash
    from tollhouse.store.pg import schema_for
    from tollhouse.store.pg_fast import canonical_select, pg_agrees

    odd = "".join(map(chr, range(1, 40))) + '"\\ é € \u2028 \U0001f600'
    store = await ReceiptStore.open(tmp_path / ".tollhouse", redactor=Redactor(), url=pg_url)
    await store.append(
        make_entry("outcome", "c", tool="t", outcome="ok", message=odd, details={odd: [odd, -5]})
    )
    await store.append(make_entry("event", None, duration_us=2**53 - 1))
    await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert pg_agrees(conn)
        conn.execute(f"SET search_path TO {schema_for(store.key_id)}, public")
        texts = conn.execute(canonical_select()).fetchall()
    rows = stored_rows(pg_url, tmp_path, store.key_id)
    for (text, seq, _prev, stored), entry in zip(texts, rows, strict=True):
        assert seq == entry["seq"]
        assert hashlib.sha256(text.encode()).hexdigest() == stored == entry_hash(entry)
