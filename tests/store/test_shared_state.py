"""State every server shares on PostgreSQL: a grant spent exactly once, pins seen by every replica."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.gate.conftest import make_config
from tollhouse.gate.redact import Redactor
from tollhouse.state.db import MIGRATIONS
from tollhouse.store.receipts_pg import log_rows, verify_pg
from tollhouse.store.state_pg import PG_MIGRATIONS, SharedState, SyncState
from tollhouse.tools.github.pinning import PinStore

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]


def test_one_use_grant_raced_by_16_processes_is_used_once(
    workspace: Path, pg_url: str, tmp_path: Path
) -> None:
    config = make_config(workspace, f'[store]\nurl = "{pg_url}"\n')
    assert config.path is not None
    made = subprocess.run(
        tollhouse_cmd("grant", "fx_note", "--arg", "path=drafts/*", "--uses", "1", "--json"),
        cwd=workspace, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    procs = []
    try:
        for i in range(16):  # 16 servers, each with its own key (and log) and its own connections
            home = tmp_path / f"home{i}"
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.store.state_helper", str(config.path), "2"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=subprocess_env(TOLLHOUSE_HOME=str(home)),
                    cwd=REPO,
                )
            )
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        statuses = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            statuses += out.split()
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert sorted(statuses) == ["needs_approval"] * 31 + ["ok"]
    assert len(list((workspace / "drafts").iterdir())) == 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT uses_left FROM grants").fetchall() == [(0,)]
    # The grant's creation is receipted in the store too, in the CLI's (this workspace key's) log.
    events = [r for log in verify_pg(pg_url) for r in log_rows(pg_url, log.log_id) if r["kind"] == "event"]
    assert [json.loads(e["details"])["event"] for e in events] == ["grant_created"]
    assert not (config.state_dir / "receipts.db").exists()


async def test_a_pin_written_by_one_replica_binds_the_next_call_on_another(pg_url: str) -> None:
    redactor = Redactor()
    a, b = await SharedState.open(pg_url, redactor), await SharedState.open(pg_url, redactor)
    replica_a, replica_b = PinStore(), PinStore()  # two processes' in-memory halves
    try:
        await replica_a.note_read("s1", "Acme/Secret", True, a, workspace="w")
        await replica_b.check_write("s1", "acme/secret", b)  # the pinned repository itself: fine
        with pytest.raises(Exception, match="repository pinning") as denied:
            await replica_b.check_write("s1", "acme/public-site", b)
        assert type(denied.value).__name__ == "PolicyDenied"
        await replica_b.check_write("s2", "acme/public-site", b)  # another session: not pinned
        with pytest.raises(Exception, match="repository pinning"):  # the workspace pin, within its ttl
            await replica_b.check_write("s2", "acme/public-site", b, ttl_s=3600, workspace="w")
    finally:
        await a.close()
        await b.close()


def test_shared_state_has_the_sqlite_schema_versions_and_redacts_writes(pg_url: str) -> None:
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)  # one version number means one schema on both
    token = "ghp_" + "Zx9" * 12
    state = SyncState(pg_url)
    try:
        state.execute(
            "INSERT INTO grants (id, tool, args_match, created_at, created_by, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ("g-1", "fx_note", "{}", 1.0, "op", f"for {token}"),
        )
        [row] = state.execute("SELECT * FROM grants").fetchall()
        assert (row["id"], row[1]) == ("g-1", "fx_note")
        assert token not in row["note"] and "[REDACTED:github-token]" in row["note"]
    finally:
        state.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM tollhouse_state").fetchone() == (len(MIGRATIONS),)
    SyncState(pg_url).close()  # a second open migrates nothing and keeps the row
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM grants").fetchone() == (1,)
