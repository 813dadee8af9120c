"""`tollhouse export` end to end, and a skill's documented `tollhouse call` line run for real."""

from __future__ import annotations

import json
import re
import subprocess

from tests.adapters.conftest import make_config, receipts
from tests.conftest import subprocess_env, tollhouse_cmd


def run(workspace, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=workspace, env=subprocess_env(HOME=str(workspace / "home")),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_export_targets_leave_out_denied_tools(workspace) -> None:
    make_config(workspace)
    for target in ("openai", "openai-responses", "anthropic", "gemini", "mcp"):
        proc = run(workspace, "export", target)
        assert proc.returncode == 0, proc.stderr
        text = proc.stdout
        json.loads(text)
        assert "ad_echo" in text and "ad_hidden" not in text, target
    out = workspace / "tools.json"
    assert run(workspace, "export", "openai", "--no-strict", "--out", str(out)).returncode == 0
    assert all(t["function"]["strict"] is False for t in json.loads(out.read_text()))


def test_export_usage_errors(workspace) -> None:
    make_config(workspace)
    proc = run(workspace, "export", "skills")
    assert proc.returncode == 2
    assert "export skills needs --out DIR" in proc.stderr
    proc = run(workspace, "export", "openai", "--zip")
    assert proc.returncode == 2 and "--zip and --install only apply to `export skills`" in proc.stderr


def test_skill_call_line_runs_through_the_gate(workspace) -> None:
    config = make_config(workspace)
    proc = run(workspace, "export", "skills", "--out", "skills", "--zip", "--install", "project")
    assert proc.returncode == 0, proc.stderr
    skill = workspace / ".claude" / "skills" / "tollhouse-adtest" / "SKILL.md"
    assert (workspace / "skills" / "tollhouse-adtest.zip").exists()
    body = skill.read_text()
    assert "ad_hidden" not in body
    line = re.search(r"^tollhouse call ad_echo (.+)$", body, re.M)
    assert line is not None
    args = json.loads(line.group(1).strip("'"))
    proc = run(workspace, "call", "ad_echo", json.dumps(args), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] == {"text": "x", "tag": None}
    outcomes = [(r["tool"], r["outcome"], r["channel"]) for r in receipts(config) if r["kind"] == "outcome"]
    assert outcomes == [("ad_echo", "ok", "cli")]
