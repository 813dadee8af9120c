"""`tollhouse install CLIENT --wrap-existing`: a client's servers move behind tollhouse."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.nodeenv import node_package
from tests.upstreams.conftest import make_config
from tollhouse.config import load_config
from tollhouse.gate.policy import Policy
from tollhouse.tools import registry_for

SECRET = "mem-sk-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def run(root, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=root, env=subprocess_env(), capture_output=True, text=True, timeout=180
    )


def test_wrap_existing_moves_servers_keeps_a_backup_and_asks_for_writes(tmp_path) -> None:
    mods = node_package("upstreams") / "node_modules" / "@modelcontextprotocol"
    root = tmp_path / "ws"
    make_config(root, '[[rules]]\nid = "x"\ntools = ["nothing"]\neffect = "allow"\n')
    client = tmp_path / "claude_desktop_config.json"
    original = {
        "mcpServers": {
            "Memory Server": {
                "command": "node",
                "args": [str(mods / "server-memory/dist/index.js")],
                "env": {
                    "MEMORY_FILE_PATH": str(tmp_path / "mem.jsonl"),
                    "MEMORY_API_KEY": SECRET,
                    "BACKUP_URL": "postgres://backup:hunter2hunter2@db.example/mem",
                    "OPAQUE": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
                },
            },
            "broken": {"command": sys.executable, "args": ["-c", "raise SystemExit(1)"]},
            "odd": {"something": "else"},
        },
        "otherSetting": True,
    }
    client.write_text(json.dumps(original), encoding="utf-8")
    done = run(root, "install", "claude-desktop", "--config-file", str(client), "--wrap-existing")
    assert done.returncode == 0, done.stderr
    assert "moved 'Memory Server' behind tollhouse as upstream memoryserver" in done.stdout
    assert "moved 'broken' behind tollhouse as upstream broken: could not start it" in done.stdout

    after = json.loads(client.read_text())
    assert set(after["mcpServers"]) == {"tollhouse", "odd"} and after["otherSetting"] is True
    backups = list(tmp_path.glob("claude_desktop_config.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == original

    text = (root / "tollhouse.toml").read_text()
    # Secrets (by name, by shape, a password in a URL) went to the operator's home, named by a profile.
    for secret in (SECRET, "hunter2hunter2", "ghp_0123456789abcdefghijABCDEFGHIJ012345"):
        assert secret not in text
    assert '"MEMORY_API_KEY" = "{memoryserver:MEMORY_API_KEY}"' in text
    assert (root / "tollhouse.toml.bak").is_file()

    assert run(root, "policy", "trust").returncode == 0
    trusted = run(root, "upstream", "trust", "memoryserver", "--yes")
    assert trusted.returncode == 0, trusted.stderr
    config = load_config(root / "tollhouse.toml")
    registry = registry_for(config)
    policy = Policy.load(config, registry)
    read = registry.get("memoryserver_read_graph")
    write = registry.get("memoryserver_create_entities")
    assert read is not None and write is not None
    assert (
        policy.decide(read, read.input_model.model_validate({}), roots=config.workspace.roots).effect
        == "allow"
    )
    args = write.input_model.model_validate({"entities": []})
    assert policy.decide(write, args, roots=config.workspace.roots).effect == "ask"
    assert 'id = "broken-asks"' in text


def test_nothing_to_move_changes_nothing_but_the_tollhouse_entry(tmp_path) -> None:
    root = tmp_path / "ws"
    make_config(root, "")
    before = (root / "tollhouse.toml").read_text()
    client = tmp_path / "mcp.json"
    client.write_text('{"mcpServers": {}}', encoding="utf-8")
    done = run(root, "install", "cursor", "--config-file", str(client), "--wrap-existing")
    assert done.returncode == 0 and "no other servers to move" in done.stdout
    assert (root / "tollhouse.toml").read_text() == before
    assert set(json.loads(client.read_text())["mcpServers"]) == {"tollhouse"}
