"""`tollhouse store migrate/verify/status` through the real CLI, against a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.receipts.conftest import fill
from tests.store.conftest import stored_rows
from tollhouse.config import load_config
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry
from tollhouse.store import open_receipts
from tollhouse.store.receipts_pg import verify_pg

pytestmark = pytest.mark.anyio


def cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=root, env=subprocess_env(**env), capture_output=True, text=True, timeout=60
    )


async def test_migrate_copies_the_sqlite_log_proves_it_and_servers_continue_it(
    workspace: Path, pg_url: str
) -> None:
    write_config(workspace, "[[rules]]\nid = 'r'\ntools = ['files_read']\neffect = 'allow'\n")
    state = workspace / ".tollhouse"
    await fill(state, 40, checkpoint_every=16)  # 80 entries, checkpoints at 16, 32, 48, 64 and 80
    done = cli(workspace, "store", "migrate", "--to", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["copied"], report["total"], report["ok"], report["anchors"]) == (80, 80, True, 5)
    log_id = report["log_id"]
    sqlite_rows = stored_rows(None, state, log_id)
    assert stored_rows(pg_url, state, log_id) == sqlite_rows  # the same log, row for row

    # Again after more calls: only the new entries are copied.
    await fill(state, 5, start=40)
    again = json.loads(cli(workspace, "store", "migrate", "--to", pg_url, "--json").stdout)
    assert (again["copied"], again["total"], again["ok"]) == (10, 90, True)

    # From now on a server with this key writes to PostgreSQL and continues the same chain.
    store = await ReceiptStore.open(state, redactor=Redactor(), url=pg_url)
    receipt = await store.append(make_entry("event", None, message="after the move"))
    await store.close()
    assert receipt.seq == 91
    status = cli(workspace, "store", "status", "--json", TOLLHOUSE_STORE_URL=pg_url)
    [log] = json.loads(status.stdout)["logs"]
    assert (log["log_id"], log["entries"], log["signed_through"]) == (log_id, 91, 91)
    verified = cli(workspace, "store", "verify", TOLLHOUSE_STORE_URL=pg_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"log {log_id}: 91 entries" in verified.stdout and verified.stdout.rstrip().endswith(": ok")


async def test_a_copy_that_differs_from_the_source_is_refused(workspace: Path, pg_url: str) -> None:
    write_config(workspace, "[[rules]]\nid = 'r'\ntools = ['files_read']\neffect = 'allow'\n")
    state = workspace / ".tollhouse"
    await fill(state, 10, checkpoint_every=8)
    first = json.loads(cli(workspace, "store", "migrate", "--to", pg_url, "--json").stdout)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # someone edits the copy in the database
        schema = f"log_{first['log_id']}"
        conn.execute(f"DROP TRIGGER receipts_append_only ON {schema}.receipts")
        conn.execute(f"UPDATE {schema}.receipts SET session = 'forged' WHERE seq = 5")
    done = cli(workspace, "store", "migrate", "--to", pg_url)
    assert done.returncode == 7
    assert "does not verify against the source's checkpoints" in done.stderr
    verified = cli(workspace, "store", "verify", TOLLHOUSE_STORE_URL=pg_url)
    assert verified.returncode == 8 and "FAILED at 5" in verified.stdout
    assert not verify_pg(pg_url)[0].result.ok


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--to", "sqlite:///x.db"), 2, "--to must start with postgresql:// (got 'sqlite')"),
        (("--to", "postgresql://nobody@127.0.0.1:1/none"), 7, "cannot connect to the PostgreSQL store"),
    ],
)
async def test_migrate_refuses_a_bad_target_and_changes_nothing(
    workspace: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    write_config(workspace, "[[rules]]\nid = 'r'\ntools = ['files_read']\neffect = 'allow'\n")
    state = workspace / ".tollhouse"
    await fill(state, 3)
    before = (state / "receipts.db").read_bytes()
    done = cli(workspace, "store", "migrate", *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert (state / "receipts.db").read_bytes() == before


async def test_a_tail_not_yet_signed_is_copied_and_reported(workspace: Path, pg_url: str) -> None:
    write_config(workspace, "[[rules]]\nid = 'r'\ntools = ['files_read']\neffect = 'allow'\n")
    state = workspace / ".tollhouse"
    await fill(state, 4, checkpoint_every=4, close=False)  # 8 entries, signed at 4 and 8 only
    await fill(state, 1, checkpoint_every=1000, close=False, start=4)  # 2 more, never signed
    done = cli(workspace, "store", "migrate", "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert "copied 10 receipts" in done.stdout and "the last 2 are not signed yet" in done.stdout


async def test_receipts_verify_checks_every_log_with_witness_copies(
    workspace: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        workspace,
        f"[store]\nurl = '{pg_url}'\n[receipts]\ncheckpoint_every = 4\n"
        "[[rules]]\nid = 'r'\ntools = ['files_read']\neffect = 'allow'\n",
    )
    config = load_config(workspace / "tollhouse.toml")
    store = await open_receipts(config, redactor=Redactor())  # the server's way: witnesses included
    for i in range(8):
        await store.append(make_entry("event", None, message=f"mine {i}"))
    await store.close()  # notes at 4 and 8, also copied to the operator's own witness folder
    mine_home = os.environ["TOLLHOUSE_HOME"]
    monkeypatch.setenv(
        "TOLLHOUSE_HOME", str(tmp_path / "other-home")
    )  # another server, another key, another log
    other = await ReceiptStore.open(tmp_path / "other" / ".tollhouse", redactor=Redactor(), url=pg_url)
    await other.append(make_entry("event", None, message="theirs"))
    await other.close()
    monkeypatch.setenv("TOLLHOUSE_HOME", mine_home)
    done = cli(workspace, "receipts", "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    mine = next(log for log in report["logs"] if log["log_id"] == store.key_id)
    assert (report["ok"], len(report["logs"]), mine["count"]) == (True, 2, 8)
    assert mine["anchors"] >= 1  # the witness copies were checked against this log
    # Both the log and its notes rewritten by someone without the key: the signatures fail.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema = f"log_{store.key_id}"
        conn.execute(f"DROP TRIGGER receipts_append_only ON {schema}.receipts")
        conn.execute(f"UPDATE {schema}.receipts SET message = 'forged' WHERE seq = 2")
    bad = cli(workspace, "receipts", "verify")
    assert bad.returncode == 8
    assert f"log {store.key_id}: 8 entries: FAILED at 2" in bad.stdout


async def test_store_export_writes_one_verifiable_bundle_per_log(
    workspace: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(workspace, f"[store]\nurl = '{pg_url}'\n")
    ids = []
    for name, n in (("a", 5), ("b", 3)):
        monkeypatch.setenv("TOLLHOUSE_HOME", str(tmp_path / f"home-{name}"))
        store = await ReceiptStore.open(tmp_path / name, redactor=Redactor(), url=pg_url)
        for i in range(n):
            await store.append(make_entry("event", None, message=f"{name}{i}"))
        await store.close()
        ids.append(store.key_id)
    out = tmp_path / "bundles"
    done = cli(workspace, "store", "export", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert sorted((h["key_id"], h["count"]) for h in json.loads(done.stdout)) == sorted(zip(ids, [5, 3]))
    for log_id in ids:
        checked = cli(workspace, "receipts", "verify", str(out / f"{log_id}.jsonl"), "--json")
        assert checked.returncode == 0, checked.stdout
        assert json.loads(checked.stdout)["key_id"] == log_id
    one = cli(workspace, "store", "export", "--out", str(tmp_path / "one"), "--log", ids[1])
    assert one.returncode == 0 and [p.name for p in (tmp_path / "one").iterdir()] == [f"{ids[1]}.jsonl"]
    missing = cli(workspace, "store", "export", "--out", str(tmp_path / "none"), "--log", "00000000deadbeef")
    assert missing.returncode == 7 and "no log 00000000deadbeef" in missing.stderr
    assert list((tmp_path / "none").iterdir()) == []


async def test_store_status_and_verify_on_the_default_sqlite_store(workspace: Path) -> None:
    write_config(workspace, "[[rules]]\nid = 'r'\ntools = ['files_read']\neffect = 'allow'\n")
    state = workspace / ".tollhouse"
    await fill(state, 3, checkpoint_every=4)  # 6 entries, signed at 4 and at close
    status = json.loads(cli(workspace, "store", "status", "--json").stdout)
    assert (status["backend"], status["location"]) == ("sqlite", str(state / "receipts.db"))
    [log] = status["logs"]
    assert (log["entries"], log["signed_through"], len(log["log_id"])) == (6, 6, 16)
    verified = cli(workspace, "store", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("log sqlite: 6 entries, 2 checkpoints")
    export = cli(workspace, "store", "export", "--out", str(workspace / "b"))
    assert export.returncode == 2 and "use `tollhouse receipts export --out FILE`" in export.stderr
    assert not (workspace / "b").exists()
