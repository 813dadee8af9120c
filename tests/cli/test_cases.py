"""Cases from a stock client (no _meta): `case_use` files the session's later calls under a case,
through the gate like any tool; an invalid or unknown case id is refused. And the terminal can
note, hand off and close a case."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from tests.cli.conftest import th
from tests.conftest import subprocess_env, write_config

CONFIG = """\
[tools]
families = ["cases", "files"]

[[rules]]
id = "work"
tools = ["case_*", "files_read", "files_list"]
effect = "allow"
"""


def _params(root: Path) -> StdioServerParameters:
    env = subprocess_env(TOLLHOUSE_CONFIG=str(root / "tollhouse.toml"))
    keep = {
        k: env[k] for k in ("PYTHONPATH", "TOLLHOUSE_CONFIG", "TOLLHOUSE_HOME", "PATH", "HOME") if k in env
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


def _text(result: types.CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def _receipt_cases(root: Path) -> list[tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(root / ".tollhouse" / "receipts.db")
    try:
        return conn.execute(
            "SELECT tool, case_id, outcome FROM receipts WHERE kind = 'outcome' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.anyio
async def test_case_use_files_a_stock_clients_calls_under_a_case(workspace: Path) -> None:
    write_config(workspace, CONFIG)
    (workspace / "a.txt").write_text("a\n")
    async with Client(_params(workspace)) as client:
        unknown = await client.call_tool("case_use", {"case_id": "never-opened"})
        assert unknown.is_error and "no case 'never-opened'; open it with case_open" in _text(unknown)
        for bad in ("../x", "a b", "x" * 65, "-lead", "é"):
            refused = await client.call_tool("case_use", {"case_id": bad})
            assert refused.is_error, bad
        assert not (await client.call_tool("case_open", {"title": "Tidy", "id": "tidy"})).is_error
        assert not (await client.call_tool("files_read", {"path": "a.txt"})).is_error  # before: no case
        used = await client.call_tool("case_use", {"case_id": "tidy"})
        assert not used.is_error and used.structured_content["case"]["id"] == "tidy"
        assert not (await client.call_tool("files_read", {"path": "a.txt"})).is_error
        note = await client.call_tool("case_note", {"text": "read a.txt"})  # case_id from the session
        assert not note.is_error and note.structured_content["case_id"] == "tidy"
        # A case named on the call itself still wins; an invalid one is refused, nothing runs.
        assert not (await client.call_tool("case_open", {"title": "Other", "id": "other"})).is_error
        other = await client.call_tool("files_list", {"path": "."}, meta={"tollhouse/case": "other"})
        assert not other.is_error
        bad_meta = await client.call_tool("files_read", {"path": "a.txt"}, meta={"tollhouse/case": "../x"})
        assert (
            bad_meta.is_error and "is not valid" in _text(bad_meta) and "nothing was run" in _text(bad_meta)
        )
        assert not (await client.call_tool("case_use", {"clear": True})).is_error
        assert not (await client.call_tool("files_list", {"path": "."})).is_error
    rows = _receipt_cases(workspace)
    assert (
        rows[-10:]
        == [
            ("case_open", None, "ok"),
            ("files_read", None, "ok"),
            ("case_use", "tidy", "ok"),
            ("files_read", "tidy", "ok"),
            ("case_note", "tidy", "ok"),
            ("case_open", "tidy", "ok"),
            ("files_list", "other", "ok"),
            ("files_read", "../x", "error"),
            ("case_use", "tidy", "ok"),
        ]
        or rows
    )
    assert rows[-1] == ("files_list", None, "ok")


def test_the_terminal_notes_hands_off_and_closes_a_case(ws: Path, cli: Any) -> None:
    assert cli(ws, "cases", "open", "Fix login", "--id", "fix-login")[0] == 0
    code, out, err = cli(ws, "cases", "note", "fix-login", "SSO callback was wrong", "--json")
    assert code == 0, err
    assert json.loads(out)["case_id"] == "fix-login"
    code, out, _ = cli(ws, "cases", "handoff", "fix-login", "--kind", "blocked", "--summary", "no IdP",
                       "--blocker", "IdP admin")  # fmt: skip
    assert code == 0 and "the case is now blocked" in out
    closed = th(ws, "cases", "close", "fix-login", "--summary", "fixed in #412", "--json")  # a real process
    assert json.loads(closed.stdout)["status"] == "done"
    shown = json.loads(cli(ws, "cases", "show", "fix-login", "--json")[1])
    assert shown["case"]["status"] == "done"
    for bad, words in (("../x", "is not valid"), ("no-such-case", "no case 'no-such-case'; open it with")):
        for args in (
            ("note", bad, "x"),
            ("close", bad),
            ("handoff", bad, "--kind", "done", "--summary", "s"),
        ):
            code, _, err = cli(ws, "cases", *args)
            assert code == 1 and words in err and "Traceback" not in err, (args, err)
    after = json.loads(cli(ws, "cases", "show", "fix-login", "--json")[1])
    assert json.dumps(after, sort_keys=True) == json.dumps(shown, sort_keys=True)  # nothing written
    code, _, err = cli(ws, "cases", "handoff", "fix-login", "--kind", "blocked", "--summary", "s")
    assert code == 1 and "must name its blockers" in err
