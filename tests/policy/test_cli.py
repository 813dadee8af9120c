"""`tollhouse policy check` and `tollhouse policy explain`, run as real subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import REPO, subprocess_env, tollhouse_cmd
from tests.policy.conftest import HEADER
from tollhouse.gate.policy_rules import Rule

POLICY = (
    HEADER
    + """
[[rules]]
id = "edit-src"
tools = ["files_write"]
paths = ["src/**"]
effect = "allow"

[[rules]]
id = "no-secrets"
tools = ["files_*"]
paths = ["**/.env"]
effect = "deny"
"""
)


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "policy", *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=REPO,
        timeout=60,
    )


def test_check_clean_warnings_and_load_error(workspace: Path) -> None:
    (workspace / "tollhouse.toml").write_text(POLICY)
    out = run(workspace, "check")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("policy ok: 2 rules, 0 errors, 0 warnings")
    (workspace / "tollhouse.toml").write_text(POLICY.replace('"files_write"', '"files_write", "files_zap"'))
    out = run(workspace, "check", "--json")
    assert out.returncode == 0, out.stderr  # warnings alone do not fail the job
    doc = json.loads(out.stdout)
    assert [f["rule_id"] for f in doc["findings"]] == ["edit-src"]
    assert doc["findings"][0]["line"] == 6 and doc["findings"][0]["level"] == "warning"
    out = run(workspace, "check")
    assert out.returncode == 0 and "warning:" in out.stdout and "1 warnings" in out.stdout
    for strict in (["--strict"], ["--strict", "--json"]):
        assert run(workspace, "check", *strict).returncode == 1
    (workspace / "tollhouse.toml").write_text(POLICY.replace('effect = "deny"', 'effect = "deny"\nwhen = 1'))
    out = run(workspace, "check")
    assert out.returncode == 2
    assert run(workspace, "check", "--strict").returncode == 2  # an error stays 2 either way
    assert f"{workspace / 'tollhouse.toml'}:15: rule no-secrets: unknown key 'when'" in out.stderr


def test_explain_human_json_and_bad_input(workspace: Path) -> None:
    (workspace / "tollhouse.toml").write_text(POLICY)
    out = run(workspace, "explain", "files_write", '{"path": "src/.env"}')
    assert out.returncode == 3, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "decision: deny (rules: no-secrets)"
    assert lines[1] == "reason:   denied by rule no-secrets: path src/.env matches **/.env"
    assert re.search(r"match edit-src\s+allow\s+path src/.env matches src/\*\*", out.stdout)
    assert re.search(r"match no-secrets\s+deny\s+path src/.env matches \*\*/.env", out.stdout)
    out = run(workspace, "explain", "files_write", '{"path": "src/a.py"}', "--json")
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert doc["decision"]["effect"] == "allow" and doc["decision"]["rules"] == ["edit-src"]
    assert [r["id"] for r in doc["rules"]] == [
        "workspace.roots",
        "workspace.state",
        "workspace.immutable",
        "edit-src",
        "no-secrets",
        "default-deny",
    ]
    out = run(workspace, "explain", "files_write", '{"path": "docs/x"}')
    assert out.returncode == 3 and "decision: deny (rules: default-deny)" in out.stdout
    out = run(workspace, "explain", "files_write", '{"pth": "x"}')
    assert out.returncode == 2
    assert "arguments are not valid for files_write" in out.stderr and "path: Field required" in out.stderr
    out = run(workspace, "explain", "files_write", "{not json")
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    out = run(workspace, "explain", "files_nope", "{}")
    assert out.returncode == 2 and "unknown tool 'files_nope'" in out.stderr


def test_docs_name_every_rule_field_and_command() -> None:
    doc = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    for name in Rule.model_fields:
        assert f"`{name}`" in doc, name
    for text in (
        "tollhouse policy check",
        "tollhouse policy explain",
        "workspace.roots",
        "workspace.immutable",
        "default-deny",
        "argv_guarded",
    ):
        assert text in doc, text
