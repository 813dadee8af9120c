"""The dev profile stays honest: code the agent may write and then run is sandboxed, or asked for, and
where it is neither, `policy check` and `doctor` say so loudly."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tollhouse.config import parse_config
from tollhouse.gate.policy import Policy
from tollhouse.profiles import render
from tollhouse.tools import build_registry
from tollhouse.tools.shell.sandbox import sandbox_status, unsandboxed_code_warnings

BWRAP = sandbox_status().available


def th(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=120
    )


def _lint(text: str, tmp_path: Path) -> list[str]:
    config = parse_config(text, tmp_path / "tollhouse.toml")
    registry = build_registry(config.tool_families, config.tool_modules)
    return [f.message for f in Policy.load(config, registry).lint(registry)]


def _rule(text: str, rule_id: str) -> dict:
    return next(r for r in tomllib.loads(text)["rules"] if r["id"] == rule_id)


@pytest.mark.parametrize("sandbox", [True, False])
def test_dev_profile_runs_tests_sandboxed_or_asks(sandbox: bool, tmp_path: Path) -> None:
    text = render("dev", sandbox=sandbox)
    data = tomllib.loads(text)
    assert data["shell"]["sandbox"] == ("bwrap" if sandbox else "none")
    assert _rule(text, "run-tests")["effect"] == ("allow" if sandbox else "ask")
    assert "pytest" not in json.dumps(_rule(text, "run-checks")["argv"])
    messages = _lint(text, tmp_path)
    assert not [m for m in messages if "workspace code" in m], messages
    assert not [m for m in messages if "example" in m], messages  # the examples hold either way
    if not sandbox:
        assert "WARNING: bubblewrap does not work on this machine" in text


def test_ci_profile_without_sandbox_warns_loudly(tmp_path: Path) -> None:
    text = render("ci", sandbox=False)
    assert _rule(text, "run-tests")["effect"] == "allow"
    loud = [m for m in _lint(text, tmp_path) if "workspace code" in m]
    assert len(loud) == 1 and loud[0].startswith("rule run-tests allows shell_run to run workspace code")
    assert "'pytest'" in loud[0] and "anything the user running tollhouse can" in loud[0]
    assert not [m for m in _lint(render("ci", sandbox=True), tmp_path) if "workspace code" in m]


@pytest.mark.parametrize(
    ("rule", "flagged"),
    [
        ('argv = ["make *"]', "'make *'"),
        ('argv = ["python3.12 script.py"]', "'python3.12 script.py'"),
        ('argv = ["./build.sh"]', "'./build.sh'"),
        ('argv = ["* --version"]', "'* --version'"),
        ('commands = ["npm test | tail"]', "shell command lines"),
        ("", "any command"),
        ('argv = ["git status", "ruff check"]', None),
    ],
)
def test_which_rules_are_flagged(rule: str, flagged: str | None) -> None:
    rules = [{"id": "r", "tools": ["shell_*"], "effect": "allow", **tomllib.loads(rule)}]
    found = unsandboxed_code_warnings({}, rules)
    if flagged is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0][0] == "r" and flagged in found[0][1]
    assert unsandboxed_code_warnings({"sandbox": "bwrap"}, rules) == []
    assert unsandboxed_code_warnings({}, [{**rules[0], "effect": "ask"}]) == []


def test_doctor_warns_when_an_allowed_command_runs_workspace_code_unsandboxed(workspace: Path) -> None:
    write_config(workspace, render("ci", sandbox=False))
    out = th(workspace, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["shell sandbox"]["status"] == "WARN", checks["shell sandbox"]
    assert "rule run-tests allows shell_run to run workspace code" in checks["shell sandbox"]["detail"]
    write_config(workspace, render("dev", sandbox=False))
    out = th(workspace, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["shell sandbox"]["status"] == "INFO"


def test_init_defaults_to_the_sandbox_where_it_works(workspace: Path) -> None:
    out = th(workspace, "init")
    assert out.returncode == 0, out.stderr
    data = tomllib.loads((workspace / "tollhouse.toml").read_text())
    assert data["shell"]["sandbox"] == ("bwrap" if BWRAP else "none")


CONFTEST = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


def test_the_agents_tests_never_run_unsandboxed_without_a_person(workspace: Path, tmp_path: Path) -> None:
    """End to end through the CLI face and the gate: the dev profile, a conftest.py the agent wrote."""
    marker = tmp_path / "MARKER"
    (workspace / "tests").mkdir()
    (workspace / "tests" / "conftest.py").write_text(CONFTEST.format(marker=str(workspace / "ran.txt")))
    (workspace / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    write_config(workspace, render("dev", sandbox=False))
    call = ["call", "shell_run", json.dumps({"argv": ["python", "-m", "pytest", "-q"]})]
    out = th(workspace, *call)
    assert out.returncode == 4 and "run-tests" in out.stderr, out.stdout + out.stderr  # needs approval
    assert not (workspace / "ran.txt").exists() and not marker.exists()
    write_config(workspace, render("dev", sandbox=True))
    out = th(workspace, *call, "--json")
    if not BWRAP:
        assert out.returncode != 0 and "sandbox cannot work on this machine" in out.stdout + out.stderr
        assert not (workspace / "ran.txt").exists()
        return
    result = json.loads(out.stdout)
    assert result["status"] == "ok" and result["result"]["sandboxed"] is True, out.stdout
    assert (workspace / "ran.txt").read_text() == "ran"  # it ran, inside the sandbox
