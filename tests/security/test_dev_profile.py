"""The reviews' attacks, end to end: `tollhouse init --profile dev` in a fresh git repository, then each
attack through a real MCP stdio session, as a prompt-injected model would send it. None may succeed,
with bubblewrap on PATH and with it hidden (the profile then falls back to asking)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import subprocess_env, tollhouse_cmd

pytestmark = pytest.mark.anyio

SECRET = "ghp_" + "Zq8" * 12  # a GitHub token shape, planted in the workspace's .env
APPEND_RULE = '\n[[rules]]\nid = "pwned"\ntools = ["*"]\neffect = "allow"\n'


def _path_without_bwrap(tmp: Path) -> str:
    """A PATH with every program of the real one except bubblewrap."""
    shim = tmp / "path-without-bwrap"
    shim.mkdir()
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = os.path.join(folder, name)
            if name != "bwrap" and not (shim / name).exists() and os.access(target, os.X_OK):
                (shim / name).symlink_to(target)
    return str(shim)


@pytest.fixture(params=["bwrap", "no-bwrap"])
def path_env(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "bwrap":
        if shutil.which("bwrap") is None:
            if os.environ.get("CI"):
                pytest.fail("CI must install bubblewrap (.ci/run does); it is not on PATH")
            pytest.skip("bubblewrap is not installed here; .ci/run installs it")
        return os.environ["PATH"]
    return _path_without_bwrap(tmp_path)


def _run(args: list[str], cwd: Path, path: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=subprocess_env(PATH=path), capture_output=True, text=True, check=check, timeout=60
    )


@pytest.fixture
def project(tmp_path: Path, path_env: str) -> Path:
    ws = tmp_path / "proj"
    ws.mkdir()
    _run(["git", "init", "-q", "."], ws, path_env)
    (ws / "src").mkdir()
    (ws / "src" / "app.py").write_text("print('app')\n")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (ws / ".env").write_text(f"GITHUB_TOKEN={SECRET}\n")
    _run(tollhouse_cmd("init", "--profile", "dev", str(ws)), ws, path_env)
    return ws


def _call(ws: Path, path: str, tool: str, args: str) -> subprocess.CompletedProcess[str]:
    config = str(ws / "tollhouse.toml")
    return _run(tollhouse_cmd("--config", config, "call", tool, args), ws, path, check=False)


def _params(ws: Path, path: str) -> StdioServerParameters:
    env = subprocess_env(PATH=path)
    keep = {k: env[k] for k in ("PYTHONPATH", "PATH", "HOME", "TOLLHOUSE_HOME") if k in env}
    keep["TOLLHOUSE_CONFIG"] = str(ws / "tollhouse.toml")
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(ws)
    )


def _text(result) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content) + str(result.structured_content or "")


def _snapshot(ws: Path) -> dict[str, bytes]:
    """Every file of the workspace but the state folder (which receipts grow), by content."""
    files = {}
    for path in ws.rglob("*"):
        rel = path.relative_to(ws).as_posix()
        if path.is_file() and not rel.startswith((".tollhouse/", ".git/objects/", ".git/index")):
            files[rel] = path.read_bytes()
    return files


async def test_agent_cannot_rewrite_its_policy_through_tests(project: Path, path_env: str) -> None:
    before = (project / "tollhouse.toml").read_text()
    evil = (
        "from pathlib import Path\n"
        "def test_evil():\n"
        f"    with open({str(project / 'tollhouse.toml')!r}, 'a') as fh:\n"
        f"        fh.write({APPEND_RULE!r})\n"
    )
    async with Client(_params(project, path_env)) as client:
        wrote = await client.call_tool("files_write", {"path": "tests/test_evil.py", "content": evil})
        assert not wrote.is_error, _text(wrote)
        await client.call_tool("shell_run", {"argv": ["pytest", "-q"]})
        await client.call_tool("shell_run", {"argv": ["python", "-m", "pytest", "-q"]})
    after = (project / "tollhouse.toml").read_text()
    if after != before:  # the write got through: the new policy must not be obeyed
        refused = _call(project, path_env, "shell_run", '{"argv": ["true"]}')
        assert refused.returncode != 0 and "trust" in refused.stderr, refused.stderr
    # whatever happened, no rule named "pwned" decides anything now
    explain = _call(project, path_env, "files_delete", '{"path": "src/app.py"}')
    assert (project / "src" / "app.py").exists(), explain.stdout + explain.stderr


@pytest.mark.parametrize(
    "call",
    [
        ("files_mkdir", {"path": "src/.git"}),
        ("files_mkdir", {"path": "src/deep/.git/hooks"}),
        ("files_write", {"path": "src/.git/config", "content": "[core]\n\tfsmonitor = touch PWNED\n"}),
        ("files_write", {"path": "src/.git/HEAD", "content": "ref: refs/heads/main\n"}),
        ("files_write", {"path": "src/.git", "content": "gitdir: ../.evil\n"}),
        ("files_write", {"path": "tests/.gitmodules", "content": "[submodule]\n"}),
        ("files_write", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\ntouch PWNED\n"}),
    ],
)
async def test_no_tool_can_plant_a_git_repository(project: Path, path_env: str, call: tuple) -> None:
    before = _snapshot(project)
    async with Client(_params(project, path_env)) as client:
        result = await client.call_tool(*call)
    assert result.is_error, _text(result)
    assert _snapshot(project) == before


@pytest.mark.parametrize("command", [["git", "status"], ["git", "diff"], ["git", "log", "--oneline"]])
async def test_a_planted_nested_repository_runs_nothing(
    project: Path, path_env: str, command: list[str]
) -> None:
    # As if the repository itself came with one (a clone of a hostile project): git must not obey it.
    nested = project / "src" / ".git"
    _run(["git", "init", "-q", "src"], project, path_env)
    marker = project / "PWNED"
    with (nested / "config").open("a") as fh:
        fh.write(f"[core]\n\tfsmonitor = touch {marker}\n\tpager = touch {marker}\n")
        fh.write(f"[diff]\n\texternal = touch {marker}\n")
    (project / "src" / "app.py").write_text("print('changed')\n")
    async with Client(_params(project, path_env)) as client:
        await client.call_tool("shell_run", {"argv": command, "cwd": "src"})
        await client.call_tool("shell_run", {"argv": command})
    assert not marker.exists()


@pytest.mark.parametrize(
    "call",
    [
        ("files_search", {"pattern": "ghp_"}),
        ("files_search", {"pattern": "GITHUB_TOKEN", "path": "."}),
        ("files_read_many", {"paths": [".env", "src/app.py"]}),
        ("files_read", {"path": ".env", "as_base64": True}),
        ("files_search", {"pattern": "PRIVATE KEY"}),
        ("files_search", {"pattern": ".", "path": ".tollhouse"}),
        ("files_list", {"path": ".tollhouse"}),
        ("files_read", {"path": ".tollhouse/receipts.db", "as_base64": True}),
        ("files_read", {"path": ".tollhouse/state.db", "as_base64": True}),
        ("files_find", {"pattern": "*", "path": ".tollhouse"}),
    ],
)
async def test_secrets_and_state_are_out_of_reach(project: Path, path_env: str, call: tuple) -> None:
    async with Client(_params(project, path_env)) as client:
        result = await client.call_tool(*call)
    shown = _text(result)
    assert SECRET not in shown and "PRIVATE KEY" not in shown
    assert "receipts.db" not in shown or result.is_error


async def test_no_key_or_token_material_lies_in_the_workspace(project: Path, path_env: str) -> None:
    async with Client(_params(project, path_env)) as client:
        await client.call_tool("files_list", {"path": "."})
    for path in project.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


async def test_readonly_profile_publishes_only_what_it_could_allow(tmp_path: Path, path_env: str) -> None:
    ws = tmp_path / "ro"
    ws.mkdir()
    _run(tollhouse_cmd("init", "--profile", "readonly", str(ws)), ws, path_env)
    async with Client(_params(ws, path_env)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert (
            names and not {"files_write", "files_edit", "files_delete", "shell_run", "memory_write"} & names
        )
        hidden = await client.call_tool("files_write", {"path": "x.txt", "content": "x"})
    assert hidden.is_error and not (ws / "x.txt").exists()
