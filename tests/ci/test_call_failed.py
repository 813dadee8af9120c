"""`tollhouse call shell_run` passes a command's failure through: its own exit code, and receipts that
read apart from a tool error ("the tool ran and the command failed")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import receipt_rows, subprocess_env, tollhouse_cmd, write_config

POLICY = """\
[tools]
families = ["shell", "files"]

[[rules]]
id = "run"
tools = ["shell_run"]
argv = ["true", "false", "sleep *", "ls *", "sh -c *"]
effect = "allow"
"""


def call(ws: Path, args: dict, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("call", "shell_run", json.dumps(args), *flags),
        cwd=ws, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_config(workspace, POLICY)
    return workspace


@pytest.mark.parametrize(
    ("argv", "code", "failed", "message"),
    [
        (["true"], 0, None, None),
        (["false"], 10, "exit", "the command exited with status 1"),
        (["ls", "no-such-file"], 10, "exit", "the command exited with status 2"),
        (["sh", "-c", "kill -TERM $$"], 10, "signal", "the command was ended by SIGTERM"),
        (["sleep", "5"], 5, "timeout", "the command timed out after 0.3 s and was killed"),
    ],
    ids=["ok", "false", "ls-missing", "signal", "own-timeout"],
)
def test_a_failed_command_exits_non_zero_and_its_receipt_says_so(
    ws: Path, argv: list[str], code: int, failed: str | None, message: str | None
) -> None:
    out = call(ws, {"argv": argv, "timeout_s": 0.3}, "--json")
    assert out.returncode == code, out.stderr
    outcome = json.loads(out.stdout)
    # The tool ran: the status stays ok and the output is there to read.
    assert outcome["status"] == "ok" and outcome["failed"] == failed and outcome["message"] == message
    rows = receipt_rows(ws / ".tollhouse", outcome["call_id"])
    last = rows[-1]
    details = json.loads(last["details"])
    assert last["outcome"] == "ok" and details.get("failed") == failed and last["message"] == message


def test_human_output_keeps_the_output_and_names_the_failure(ws: Path) -> None:
    out = call(ws, {"argv": ["ls", "no-such-file"]})
    assert out.returncode == 10
    assert '"exit_code": 2' in out.stdout  # the result is still printed
    assert "[ok · shell_run · the command exited with status 2 · receipts" in out.stderr


def test_a_tool_error_is_not_a_command_failure(ws: Path) -> None:
    # A program that does not exist: the tool could not run it (error), nothing ran to fail.
    write_config(ws, POLICY.replace('"true",', '"true", "no-such-program-xyz",'))
    out = call(ws, {"argv": ["no-such-program-xyz"]}, "--json")
    outcome = json.loads(out.stdout)
    assert out.returncode == 1 and outcome["status"] == "error" and outcome["failed"] is None
    last = receipt_rows(ws / ".tollhouse", outcome["call_id"])[-1]
    assert last["outcome"] == "error" and "failed" not in json.loads(last["details"] or "{}")
