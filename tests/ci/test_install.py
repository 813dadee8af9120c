"""`tollhouse install` / `uninstall`: project scope by default, user scope on request, another
workspace's entry never taken over silently, symlinked configs written through, uninstall removing
exactly its entry. Real files; the command in process (the same `main` a terminal runs) except one
subprocess run end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tollhouse.cli import main

POLICY = '[tools]\nfamilies = ["files"]\n\n[[rules]]\nid = "read"\ntools = ["files_read"]\neffect = "allow"\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def workspace(path: Path) -> Path:
    path.mkdir(parents=True)
    write_config(path, POLICY)
    return path


@pytest.fixture
def ws(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = workspace(tmp_path / "app")
    monkeypatch.chdir(root)
    return root


def th(*args: str) -> int:
    return main(list(args))


def servers(path: Path, key: str = "mcpServers") -> dict:
    return json.loads(path.read_text())[key]


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".bak-*"))


@pytest.mark.parametrize(
    ("client", "relative", "key"),
    [("claude-code", ".mcp.json", "mcpServers"), ("cursor", ".cursor/mcp.json", "mcpServers"),
     ("vscode", ".vscode/mcp.json", "servers")],
)  # fmt: skip
def test_project_scope_is_the_default(ws: Path, home: Path, client: str, relative: str, key: str) -> None:
    assert th("install", client) == 0
    entry = servers(ws / relative, key)["tollhouse"]
    assert entry["args"][-3:] == ["--config", str(ws.resolve() / "tollhouse.toml"), "serve"]
    assert not any(home.rglob("*.json"))  # nothing in user scope


def test_user_scope_on_request_and_claude_desktop_only_has_user(ws: Path, home: Path, capsys) -> None:
    assert th("install", "claude-code", "--scope", "user") == 0
    assert "tollhouse" in servers(home / ".claude.json") and not (ws / ".mcp.json").exists()
    assert th("install", "claude-desktop") == 0
    assert "tollhouse" in servers(home / ".config/Claude/claude_desktop_config.json")
    capsys.readouterr()
    assert th("install", "claude-desktop", "--scope", "project") == 2
    assert "Claude Desktop has no project config; use --scope user" in capsys.readouterr().err


@pytest.mark.parametrize(
    "existing",
    [
        {"command": "/usr/bin/python3",
         "args": ["-P", "-m", "tollhouse", "--config", "/elsewhere/tollhouse.toml", "serve"]},
        {"command": "/usr/bin/python3", "args": ["-m", "tollhouse", "serve"]},  # no --config: cwd's workspace
        {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/"]},
        {"url": "https://example.com/mcp"},
        "not an object",
    ],
    ids=["other-workspace", "no-config", "other-server", "remote", "garbage"],
)  # fmt: skip
def test_an_entry_that_is_not_ours_is_never_taken_over_silently(ws: Path, existing, capsys) -> None:
    target = ws / ".mcp.json"
    target.write_text(json.dumps({"mcpServers": {"tollhouse": existing, "keep": {"command": "x"}}}))
    before = target.read_bytes()
    assert th("install", "claude-code") == 2
    err = capsys.readouterr().err
    assert "already has an entry 'tollhouse'" in err and "Pass --force" in err and "--name" in err
    assert target.read_bytes() == before and backups(target) == []
    # Another name adds this workspace beside it; --force replaces it, keeping a backup.
    assert th("install", "claude-code", "--name", "tollhouse-app") == 0
    assert servers(target)["tollhouse"] == existing and "tollhouse-app" in servers(target)
    assert th("install", "claude-code", "--force") == 0
    assert "replaced the 'tollhouse' server" in capsys.readouterr().out
    assert servers(target)["tollhouse"]["args"][-2] == str(ws.resolve() / "tollhouse.toml")
    assert servers(target)["keep"] == {"command": "x"} and len(backups(target)) == 2


def test_a_second_workspace_does_not_repoint_the_first(tmp_path: Path, home: Path, monkeypatch) -> None:
    first, second = workspace(tmp_path / "one"), workspace(tmp_path / "two")
    shared = home / ".cursor" / "mcp.json"
    monkeypatch.chdir(first)
    assert th("install", "cursor", "--scope", "user") == 0
    monkeypatch.chdir(second)
    assert th("install", "cursor", "--scope", "user") == 2
    assert servers(shared)["tollhouse"]["args"][-2] == str(first.resolve() / "tollhouse.toml")
    assert th("uninstall", "cursor", "--scope", "user") == 2  # not second's to remove either
    assert "tollhouse" in servers(shared)
    monkeypatch.chdir(first)
    assert th("install", "cursor", "--scope", "user") == 0  # its own entry: unchanged, no-op
    assert len(backups(shared)) == 0


def test_a_symlinked_config_is_written_through(ws: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "mcp.json"
    real.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    link = ws / ".mcp.json"
    link.symlink_to(real)
    assert th("install", "claude-code") == 0
    assert link.is_symlink() and link.resolve() == real
    assert set(servers(real)) == {"other", "tollhouse"}
    assert len(backups(real)) == 1 and not list(ws.glob(".mcp.json.bak-*"))  # next to the target
    # A dangling link (the dotfiles not yet checked out) creates its target, the link kept.
    real.unlink()
    backups(real)[0].unlink()
    assert th("install", "claude-code") == 0
    assert link.is_symlink() and set(servers(real)) == {"tollhouse"}


def test_uninstall_removes_exactly_its_entry_with_a_backup(ws: Path, capsys) -> None:
    target = ws / ".vscode" / "mcp.json"
    target.parent.mkdir()
    target.write_text(json.dumps({"theme": 1, "servers": {"a": {"command": "a"}}, "inputs": []}))
    assert th("install", "vscode") == 0
    with_ours = json.loads(target.read_text())
    assert th("uninstall", "vscode") == 0
    assert json.loads(target.read_text()) == {"theme": 1, "servers": {"a": {"command": "a"}}, "inputs": []}
    assert json.loads(backups(target)[-1].read_text()) == with_ours
    capsys.readouterr()
    count = len(backups(target))
    assert th("uninstall", "vscode") == 0
    assert "has no 'tollhouse' entry; nothing changed" in capsys.readouterr().out
    assert len(backups(target)) == count
    assert th("uninstall", "vscode", "--name", "a") == 2  # not a tollhouse entry
    assert th("uninstall", "vscode", "--name", "a", "--force") == 0
    assert json.loads(target.read_text())["servers"] == {}


def test_refusals_leave_an_unreadable_file_alone(ws: Path, capsys) -> None:
    target = ws / ".mcp.json"
    target.write_text('{"mcpServers": {"tollhouse": {}}, // a comment\n}')
    before = target.read_bytes()
    for command in ("install", "uninstall"):
        assert th(command, "claude-code") == 2
        assert "is not plain JSON" in capsys.readouterr().err
    assert target.read_bytes() == before and backups(target) == []


def test_install_and_uninstall_as_a_user_runs_them(ws: Path, home: Path) -> None:
    env = subprocess_env(HOME=str(home))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            tollhouse_cmd(*args), cwd=ws, env=env, capture_output=True, text=True, timeout=60
        )

    out = run("install", "claude-code")
    assert out.returncode == 0 and f"added the 'tollhouse' server in {ws / '.mcp.json'}" in out.stdout
    assert run("uninstall", "claude-code").returncode == 0
    assert servers(ws / ".mcp.json") == {}
    assert "--scope {project,user}" in run("uninstall", "--help").stdout
