"""`tollhouse demo` end to end, and a second, independent client: the MCP Inspector CLI from npm."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, subprocess_env, tollhouse_cmd
from tests.server.conftest import make_workspace, outcomes


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_demo_walks_every_step_and_exits_0(tmp_path: Path, mode: str) -> None:
    proc = subprocess.run(
        tollhouse_cmd("demo", "--mode", mode, "--keep"),
        cwd=tmp_path,
        env=subprocess_env(TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for step in (
        "list tools",
        "allowed call",
        "denied call",
        "shell injection",
        "ask -> elicitation",
        "receipts resource",
        "receipts verify",
    ):
        line = next(line for line in out.splitlines() if f"  {step}  " in line)
        assert line.startswith("OK"), line
    assert "no-secrets" in out and "every step behaved as designed" in out
    shell = next(line for line in out.splitlines() if "  shell injection  " in line)
    assert "denied: " in shell, shell  # refused by the gate, not failed for another reason
    kept = Path(out.split("workspace kept: ")[1].split()[0])
    assert (kept / "notes" / "todo.txt").read_text() == "try tollhouse"


def test_demo_interactive_decline_writes_nothing(tmp_path: Path) -> None:
    proc = subprocess.run(
        tollhouse_cmd("demo", "--ask", "--keep"),
        cwd=tmp_path,
        env=subprocess_env(TMPDIR=str(tmp_path)),
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Declining is a designed outcome in interactive mode: the step passes and nothing is written.
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(line for line in proc.stdout.splitlines() if "  ask -> elicitation  " in line)
    assert line.startswith("OK") and "asked 1x; Denied: declined by mcp-elicitation:" in line
    kept = Path(proc.stdout.split("workspace kept: ")[1].split()[0])
    assert not (kept / "notes" / "todo.txt").exists()


NPX = shutil.which("npx")


@pytest.mark.skipif(NPX is None, reason="npx is not installed on this machine")
def test_mcp_inspector_cli_lists_and_calls_over_stdio(ws: Path) -> None:
    base = [
        NPX,
        "-y",
        "@modelcontextprotocol/inspector",
        "--cli",
        "-e",
        f"PYTHONPATH={REPO}",
        "-e",
        f"TOLLHOUSE_CONFIG={ws / 'tollhouse.toml'}",
        sys.executable,
        "-m",
        "tollhouse",
        "serve",
    ]
    env = subprocess_env()
    listed = subprocess.run(
        [*base, "--method", "tools/list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    tools = {t["name"]: t for t in json.loads(listed.stdout)["tools"]}
    assert {"demo_note_read", "demo_note_write", "demo_wait", "demo_noop"} <= set(tools)
    assert tools["demo_note_read"]["annotations"]["readOnlyHint"] is True

    called = subprocess.run(
        [
            *base,
            "--method",
            "tools/call",
            "--tool-name",
            "demo_note_read",
            "--tool-arg",
            "path=notes/welcome.txt",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["structuredContent"] == {"path": "notes/welcome.txt", "text": "welcome\n"}
    final = outcomes(ws, "demo_note_read")[-1]
    assert (
        final["outcome"] == "ok"
        and final["channel"] == "mcp-stdio"
        and final["client"].startswith("inspector")
    )


__all__ = ["make_workspace"]
