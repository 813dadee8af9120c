"""`tollhouse install` and `tollhouse doctor` as a user runs them: real files, real subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import key_dir, subprocess_env, tollhouse_cmd
from tests.server.conftest import INIT, make_workspace
from tollhouse.server.clients import CLIENTS
from tollhouse.tools.shell.sandbox import sandbox_status


def run(root: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    if home is not None:
        env["HOME"] = str(home)
        env["APPDATA"] = str(home / "AppData")
    return subprocess.run(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), *args),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_install_adds_entry_keeps_others_and_backs_up(tmp_path: Path, client: str) -> None:
    ws = make_workspace(tmp_path / "ws")
    kind = CLIENTS[client]
    target = tmp_path / "client.json"
    other = {"command": "npx", "args": ["-y", "some-server"]}
    original = {"theme": "dark", kind.servers_key: {"other": other}}
    target.write_text(json.dumps(original))
    target.chmod(0o640)

    proc = run(ws, "install", client, "--config-file", str(target))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(target.read_text())
    assert data["theme"] == "dark" and data[kind.servers_key]["other"] == other
    entry = data[kind.servers_key]["tollhouse"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).exists()
    assert entry["args"] == [
        "-P",
        "-m",
        "tollhouse",
        "--config",
        str((ws / "tollhouse.toml").resolve()),
        "serve",
    ]
    assert ("type" in entry) == kind.with_type
    assert (target.stat().st_mode & 0o777) == 0o640
    backups = list(tmp_path.glob("client.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == original

    # Re-running is a no-op; the entry starts a server that answers (tested via the entry's own argv).
    again = run(ws, "install", client, "--config-file", str(target))
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert len(list(tmp_path.glob("client.json.bak-*"))) == 1


def test_installed_entry_really_starts_the_server_from_anywhere(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    target = tmp_path / "claude.json"
    assert run(ws, "install", "claude-desktop", "--config-file", str(target)).returncode == 0
    entry = json.loads(target.read_text())["mcpServers"]["tollhouse"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # What an agent could leave in the folder a client starts the server in: never imported (-P).
    for name in ("tollhouse/__init__.py", "tollhouse/__main__.py", "anyio.py", "mcp.py"):
        (elsewhere / name).parent.mkdir(exist_ok=True)
        (elsewhere / name).write_text("import pathlib; pathlib.Path(__file__).with_name('RAN').touch()\n")
    env = {"PATH": "/usr/bin:/bin", **entry.get("env", {})}  # what a desktop client gives it: nearly nothing
    proc = subprocess.run(
        [entry["command"], *entry["args"]],
        input=json.dumps(INIT) + "\n",
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    reply = json.loads(proc.stdout.splitlines()[0])
    assert reply["result"]["serverInfo"]["name"] == "tollhouse"
    assert not list(elsewhere.rglob("RAN"))


def test_install_print_changes_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    target = tmp_path / "mcp.json"
    proc = run(ws, "install", "vscode", "--config-file", str(target), "--print")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["servers"]["tollhouse"]["type"] == "stdio"
    assert not target.exists()


def test_install_refuses_to_touch_files_it_cannot_read_safely(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    jsonc = tmp_path / "mcp.json"
    body = '{\n  // my servers\n  "servers": {}\n}\n'
    jsonc.write_text(body)
    proc = run(ws, "install", "vscode", "--config-file", str(jsonc))
    assert proc.returncode == 2 and "not plain JSON" in proc.stderr and "left untouched" in proc.stderr
    assert jsonc.read_text() == body and not list(tmp_path.glob("mcp.json.bak-*"))

    wrong = tmp_path / "cursor.json"
    wrong.write_text('{"mcpServers": ["not", "an", "object"]}')
    proc = run(ws, "install", "cursor", "--config-file", str(wrong))
    assert proc.returncode == 2 and '"mcpServers" is not a JSON object' in proc.stderr
    assert json.loads(wrong.read_text()) == {"mcpServers": ["not", "an", "object"]}


def test_install_uses_the_standard_location(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    home = tmp_path / "home"
    home.mkdir()
    assert run(ws, "install", "cursor", "--scope", "user", home=home).returncode == 0
    assert "tollhouse" in json.loads((home / ".cursor" / "mcp.json").read_text())["mcpServers"]


def test_default_paths_per_os() -> None:
    home = Path("/h")
    assert CLIENTS["claude-desktop"].default_path(home, "darwin") == home / (
        "Library/Application Support/Claude/claude_desktop_config.json"
    )
    assert (
        CLIENTS["claude-desktop"].default_path(home, "linux")
        == home / ".config/Claude/claude_desktop_config.json"
    )
    assert CLIENTS["vscode"].default_path(home, "linux") == home / ".config/Code/User/mcp.json"
    assert CLIENTS["claude-code"].default_path(home, "linux") == home / ".claude.json"


def _init(root: Path) -> None:
    proc = subprocess.run(
        tollhouse_cmd("init", str(root)), env=subprocess_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_doctor_reports_each_check_and_fails_with_a_fix(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _init(ws)
    home = tmp_path / "home"
    home.mkdir()
    assert run(ws, "install", "cursor", "--scope", "user", home=home).returncode == 0

    proc = run(ws, "doctor", "--json", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    for name in ("config", "policy", "state dir", "signing key", "receipt chain", "client cursor"):
        assert checks[name]["status"] == "OK", checks[name]
    assert checks["client claude-desktop"]["status"] == "INFO"

    key = key_dir(ws / ".tollhouse") / "receipts-ed25519.key"
    key.chmod(0o644)
    (ws / ".tollhouse").chmod(0o777)
    try:
        proc = run(ws, "doctor", home=home)
    finally:
        (ws / ".tollhouse").chmod(0o700)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(
        line.startswith("FAIL") and "signing key" in line and f"chmod 600 {key}" in line for line in lines
    )
    assert any(line.startswith("FAIL") and "state dir" in line and "chmod 700" in line for line in lines)
    assert any(line.startswith("OK") and "config" in line for line in lines)


def test_doctor_without_config_fails_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tollhouse", "doctor"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and proc.stdout.startswith("FAIL") and "tollhouse init" in proc.stdout


def test_doctor_notices_a_tampered_receipt_chain(tmp_path: Path) -> None:
    import sqlite3

    ws = tmp_path / "ws"
    ws.mkdir()
    _init(ws)
    call = subprocess.run(
        tollhouse_cmd("--config", str(ws / "tollhouse.toml"), "call", "files_list", '{"path": "."}'),
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert call.returncode in (0, 3), call.stderr
    db = ws / ".tollhouse" / "receipts.db"
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER receipts_no_update")
    conn.execute("UPDATE receipts SET tool = 'tampered' WHERE seq = 1")
    conn.commit()
    conn.close()
    proc = run(ws, "doctor", home=tmp_path)
    assert proc.returncode == 1
    assert any(line.startswith("FAIL") and "receipt chain" in line for line in proc.stdout.splitlines())


def test_doctor_reports_the_shell_sandbox(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _init(ws)
    home = tmp_path / "home"
    home.mkdir()
    # init writes sandbox = "bwrap" where bubblewrap works and "none" elsewhere; test both settings.
    cfg = ws / "tollhouse.toml"
    cfg.write_text(re.sub(r'^sandbox = ".*"$', 'sandbox = "none"', cfg.read_text(), flags=re.M))
    checks = {c["name"]: c for c in json.loads(run(ws, "doctor", "--json", home=home).stdout)["checks"]}
    # With bwrap at init, the profile allows the tests unattended: with the sandbox now off, a WARN.
    expected = "WARN" if sandbox_status().available else "INFO"
    assert checks["shell sandbox"]["status"] == expected and "off" in checks["shell sandbox"]["detail"]

    cfg.write_text(re.sub(r'^sandbox = ".*"$', 'sandbox = "bwrap"', cfg.read_text(), flags=re.M))
    assert 'sandbox = "bwrap"' in cfg.read_text()
    env = subprocess_env(HOME=str(home), PATH=str(tmp_path / "empty-bin"))  # no bwrap to be found
    proc = subprocess.run(
        tollhouse_cmd("--config", str(cfg), "doctor", "--json"), cwd=ws, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    check = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}["shell sandbox"]
    assert proc.returncode == 1 and check["status"] == "FAIL"
    assert "not installed" in check["detail"] and "never runs unsandboxed" in check["fix"]


def test_doctor_names_a_broken_policy_and_a_missing_receipt_store(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "tollhouse.toml").write_text(
        '[tools]\nfamilies = ["files"]\n\n[[rules]]\nid = "r1"\ntools = ["files_read"]\n'
        'effect = "allow"\npaths = ["[unclosed"]\n'
    )
    home = tmp_path / "home"
    home.mkdir()
    proc = run(ws, "doctor", "--json", home=home)
    assert proc.returncode == 1
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["config"]["status"] == "OK"
    policy = checks["policy"]
    assert policy["status"] == "FAIL" and "rule r1" in policy["detail"] and "[unclosed" in policy["detail"]
    chain = checks["receipt chain"]
    assert chain["status"] == "FAIL" and "no receipt database" in chain["detail"]
    assert chain["fix"] == "run `tollhouse init` to create it"  # nothing is damaged: no "evidence" advice
