"""`tollhouse export` end to end, and a skill's documented `tollhouse call` line run for real."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

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


def test_skill_call_lines_run_through_the_gate(workspace) -> None:
    config = make_config(workspace)
    proc = run(workspace, "export", "skills", "--out", "skills", "--zip", "--install", "project")
    assert proc.returncode == 0, proc.stderr
    skill = workspace / ".claude" / "skills" / "tollhouse-adtest" / "SKILL.md"
    assert (workspace / "skills" / "tollhouse-adtest.zip").exists()
    body = skill.read_text()
    assert "ad_hidden" not in body
    lines = re.findall(r"^tollhouse call .+$", body, re.M)
    assert [line.split()[2] for line in lines] == ["ad_echo", "ad_fail", "ad_slow"]
    # each documented line runs exactly as written, by a shell, with `tollhouse` on PATH
    bin_dir = workspace / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "tollhouse"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tollhouse "$@"\n')
    shim.chmod(0o755)
    env = subprocess_env(HOME=str(workspace / "home"))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    codes = {}
    for line in lines:
        done = subprocess.run(["sh", "-c", line], cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        said = json.loads(done.stdout) if done.returncode == 0 else done.stderr.splitlines()[0]
        codes[line.split()[2]] = (done.returncode, said)
    assert codes == {
        "ad_echo": (0, {"text": "x", "tag": None}),
        "ad_fail": (1, "error: cannot echo 'x'; send a shorter text"),
        "ad_slow": (0, {"slept": 0}),
    }
    outcomes = [(r["tool"], r["outcome"], r["channel"]) for r in receipts(config) if r["kind"] == "outcome"]
    assert outcomes == [("ad_echo", "ok", "cli"), ("ad_fail", "error", "cli"), ("ad_slow", "ok", "cli")]
