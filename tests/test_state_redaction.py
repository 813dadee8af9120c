"""Every write to state.db is redacted inside the connection: no write path can store a secret."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.secrets import assert_no_secret
from tollhouse.config import parse_config
from tollhouse.gate.redact import Redactor
from tollhouse.identity import build_resolver
from tollhouse.state import cases, memory
from tollhouse.state.db import StateDB, open_sync

GH = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
KNOWN = "known-credential-value-77"
INSERT = "INSERT INTO case_notes (case_id, author, text, created_at) VALUES (?, ?, ?, ?)"


def test_every_sync_write_path_is_redacted(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = open_sync(db, redactor=Redactor(secrets=[KNOWN]))
    conn.execute(INSERT, ("c", "a", f"execute {GH}", 1.0))
    conn.cursor().execute(INSERT, ("c", "a", f"cursor {KNOWN}", 1.0))
    conn.executemany(INSERT, [("c", "a", f"many x{GH}x", 1.0)])
    conn.execute(
        "INSERT INTO case_notes (case_id, author, text, created_at) VALUES (:c, :a, :t, 1)",
        {"c": "c", "a": KNOWN, "t": "named"},
    )
    with pytest.raises(TypeError, match="redacting cursors"):
        conn.cursor(sqlite3.Cursor)
    # A read keeps its parameters: a search is for what was typed.
    assert (
        conn.execute("SELECT count(*) FROM case_notes WHERE text LIKE ?", ("%[REDACTED:%",)).fetchone()[0]
        == 3
    )
    conn.close()
    for secret in (GH, KNOWN):
        assert_no_secret(tmp_path, secret)


@pytest.mark.anyio
async def test_async_state_writes_and_case_ids(tmp_path: Path) -> None:
    state = await StateDB.open(tmp_path / "state.db", redactor=Redactor(secrets=[KNOWN]))
    try:
        await cases.open_case(state, title=f"t {KNOWN}", author=f"agent {GH}", case_id="c-1")
        await cases.add_note(state, "c-1", f"note x{GH}x", author="a")
        await cases.write_handoff(
            state, "c-1", kind="progress", summary=KNOWN + " done", done=[GH], author="a"
        )
        await memory.add_fact(state, subject=KNOWN, predicate="p", object=GH, author="a")
        for bad in (GH, f"id-{KNOWN}"):
            with pytest.raises(cases.CaseInputError, match="looks like a secret"):
                await cases.open_case(state, title="t", author="a", case_id=bad)
        assert await cases.get_case(state, "c-1") is not None
    finally:
        await state.close()
    for secret in (GH, KNOWN):
        assert_no_secret(tmp_path, secret)


def test_env_and_file_profiles_are_known_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TH_ENV_PROFILE", "env-profile-value-1")
    (tmp_path / "tok").write_text(
        "file-profile-value-2\n"
    )  # mode 0644: a call refuses it, it is still hidden
    config = parse_config(
        '[credentials."github:a"]\nsource = "env:TH_ENV_PROFILE"\n'
        '[credentials."github:b"]\nsource = "file:tok"\n'
        '[credentials."github:c"]\nsource = "command:false"\n'
        '[credentials."github:d"]\nsource = "env:TH_UNSET_PROFILE"\n',
        None,
        root=tmp_path,
    )
    redactor = Redactor()
    assert build_resolver(config, redactor).register_known() == 2
    out = redactor.redact_text("a env-profile-value-1 b file-profile-value-2")
    assert out == "a [REDACTED:secret] b [REDACTED:secret]"


def test_grants_are_stored_redacted(tmp_path: Path) -> None:
    from tollhouse.gate.grants import add_grant, list_grants

    conn = open_sync(tmp_path / "state.db", redactor=Redactor(secrets=[KNOWN]))
    try:
        add_grant(conn, tool="files_read", args_match={"path": f"{GH}/*"}, created_by=KNOWN, note=f"for {GH}")
        (grant,) = list_grants(conn)
    finally:
        conn.close()
    assert grant.note == "for [REDACTED:github-token]" and grant.created_by == "[REDACTED:secret]"
    assert grant.args_match == {"path": "[REDACTED:github-token]/*"}
    for secret in (GH, KNOWN):
        assert_no_secret(tmp_path, secret)


def test_memory_export_with_a_bad_credentials_table_is_a_clear_error(workspace: Path) -> None:
    import subprocess

    from tests.conftest import subprocess_env, tollhouse_cmd, write_config

    write_config(workspace, '[credentials."github:x"]\nsource = "nowhere"\n')
    done = subprocess.run(
        tollhouse_cmd("memory", "export"),
        cwd=workspace,
        env=subprocess_env(TOLLHOUSE_CONFIG=str(workspace / "tollhouse.toml")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stderr)
    assert (
        done.stderr.startswith("tollhouse: ")
        and "credentials" in done.stderr
        and "Traceback" not in done.stderr
    )
