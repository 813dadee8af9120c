"""Pins live in .tollhouse/state.db: they survive a restart, hold across processes serving the same
session, and a released state database (schema v4) keeps its pins after migration."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import anyio
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.github.conftest import CANARY, TOKEN_ENV
from tests.github.fake_github import FakeGitHub
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call
from tollhouse.tools.github.pinning import PINS

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "state"
COMMENT = {"repo": "acme/widget", "number": 1, "body": "what I found"}


def allow_all_config(root: Path, fake: FakeGitHub, github: str = ""):
    write_config(
        root,
        f"""
        [tools]
        families = ["github"]

        [credentials."github:default"]
        source = "env:{TOKEN_ENV}"

        [github]
        api_url = "{fake.url}"
        backoff_s = 0
        {github}

        [[rules]]
        id = "github-all"
        tools = ["github_*"]
        repos = ["acme/*"]
        effect = "allow"
        """,
    )
    return load_config(root / "tollhouse.toml")


def pins_in_db(config) -> list[tuple[str, str]]:
    conn = sqlite3.connect(config.state_dir / "state.db")
    try:
        return [tuple(r) for r in conn.execute("SELECT session, repo FROM github_pins ORDER BY 1, 2")]
    finally:
        conn.close()


async def test_a_pin_survives_a_restart_for_its_session_only(workspace: Path, fake: FakeGitHub) -> None:
    # Session pins alone (workspace pins off): the other session may write.
    config = allow_all_config(workspace, fake, "pin_ttl_s = 0")
    async with await Gate.open(config) as gate:
        read = await gate.call(
            Call("github_get_file", {"repo": "acme/secret", "path": "keys.txt"}, session="c1")
        )
    assert read.status == "ok"
    assert pins_in_db(config) == [("", "acme/secret"), ("c1", "acme/secret")]
    PINS.clear()  # what a restart does to the in-memory half
    async with await Gate.open(config) as gate:
        leak = await gate.call(Call("github_comment", COMMENT, session="c1"))
        other = await gate.call(Call("github_comment", COMMENT, session="c2"))
    assert leak.status == "denied" and leak.decision.rules == ("github.pinning",)
    assert "read private repository acme/secret; writes to acme/widget are denied" in leak.message
    assert other.status == "ok", other.message
    assert fake.count("POST", ".") == 1


async def test_two_servers_on_one_workspace_share_pins(workspace: Path, fake: FakeGitHub) -> None:
    config = allow_all_config(workspace, fake)
    async with await Gate.open(config) as first, await Gate.open(config) as second:
        await first.call(Call("github_get_repo", {"repo": "acme/secret"}, session="shared"))
        PINS.clear()  # the second server is another process: it has none of the first one's memory
        leak = await second.call(Call("github_comment", COMMENT, session="shared"))
    assert leak.status == "denied" and leak.decision.rules == ("github.pinning",)
    assert fake.count("POST", ".") == 0


async def test_calls_without_a_session_pin_the_workspace_on_disk(workspace: Path, fake: FakeGitHub) -> None:
    config = allow_all_config(workspace, fake)
    async with await Gate.open(config) as gate:
        await gate.call(Call("github_get_repo", {"repo": "acme/secret"}))
        leak = await gate.call(Call("github_comment", COMMENT))
    assert leak.status == "denied"
    assert pins_in_db(config) == [("", "acme/secret")]  # the workspace pin: no session of its own


async def test_concurrent_private_reads_and_writes_in_one_session(workspace: Path, fake: FakeGitHub) -> None:
    """Reads and writes racing in one session: every write that starts after a private read has
    returned is denied, and nothing crashes while the pin sets change under a check."""
    config = allow_all_config(workspace, fake)
    fake.add_repo("acme/vault", private=True)
    async with await Gate.open(config) as gate:
        await gate.call(Call("github_get_repo", {"repo": "acme/secret"}, session="r"))
        outs: list = []

        async def write() -> None:
            outs.append(await gate.call(Call("github_comment", COMMENT, session="r")))

        async def read(repo: str) -> None:
            outs.append(await gate.call(Call("github_get_repo", {"repo": repo}, session="r")))

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(write)
                tg.start_soon(read, "acme/vault" if i % 2 else "acme/widget")
    writes = [o for o in outs if o.tool == "github_comment"]
    assert [o.status for o in writes] == ["denied"] * 10
    assert all(o.status == "ok" for o in outs if o.tool == "github_get_repo")
    assert fake.count("POST", ".") == 0
    assert pins_in_db(config) == [
        ("", "acme/secret"),
        ("", "acme/vault"),
        ("r", "acme/secret"),
        ("r", "acme/vault"),
    ]


async def test_a_released_v4_database_keeps_its_pins(workspace: Path, fake: FakeGitHub) -> None:
    config = allow_all_config(workspace, fake)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "state-v4.db", config.state_dir / "state.db")
    async with await Gate.open(config) as gate:
        leak = await gate.call(Call("github_comment", COMMENT, session="s1"))
    assert leak.status == "denied" and "acme/secret" in leak.message


def test_pins_hold_across_cli_processes(workspace: Path, fake: FakeGitHub) -> None:
    """`tollhouse call` runs one process per call: a pin in memory alone would never hold there."""
    allow_all_config(workspace, fake)
    env = subprocess_env(**{TOKEN_ENV: CANARY})

    def call(tool: str, args: dict, session: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            tollhouse_cmd("call", "--json", "--no-prompt", "--session", session, tool, json.dumps(args)),
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    read = call("github_get_file", {"repo": "acme/secret", "path": "keys.txt"}, "cli-1")
    assert read.returncode == 0, read.stderr
    leak = call("github_comment", COMMENT, "cli-1")
    assert leak.returncode == 3, leak.stdout + leak.stderr
    assert json.loads(leak.stdout)["decision"]["rules"] == ["github.pinning"]
    assert fake.count("POST", ".") == 0
    assert CANARY not in read.stdout + read.stderr + leak.stdout + leak.stderr


class CLI:
    """`tollhouse call` as a generated skill runs it: one process per call, no session unless given."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.env = subprocess_env(**{TOKEN_ENV: CANARY})

    def __call__(self, tool: str, args: dict, *session: str) -> subprocess.CompletedProcess[str]:
        opts = ["--session", session[0]] if session else []
        return subprocess.run(
            tollhouse_cmd("call", "--json", "--no-prompt", *opts, tool, json.dumps(args)),
            cwd=self.workspace, env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip


def _denied_by_pin(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 3, res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "denied" and out["decision"]["rules"] == ["github.pinning"]
    return str(out["message"])


def test_cli_calls_without_a_session_share_the_workspace_pin(workspace: Path, fake: FakeGitHub) -> None:
    """The skills face: a private read, then a public write, each its own `tollhouse call`."""
    config = allow_all_config(workspace, fake)
    call = CLI(workspace)
    fake.add_repo("acme/public2")
    fake.add_issue("acme/public2", "Hello", "hi", author="carol", association="NONE")
    assert call("github_get_issue", {"repo": "acme/widget", "number": 1}).returncode == 0  # public: no pin
    ok = call("github_comment", COMMENT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    posts = fake.count("POST", ".")
    read = call("github_get_file", {"repo": "acme/secret", "path": "keys.txt"})
    assert read.returncode == 0, read.stderr
    message = _denied_by_pin(call("github_comment", COMMENT))
    assert message.startswith(
        "repository pinning: a call on this workspace read private repository acme/secret in the last "
        "86400 s (github.pin_ttl_s; a new session does not reset it); writes to acme/widget are denied"
    )
    # A session the model picks, fresh or not, does not reset it, nor does another write tool.
    _denied_by_pin(call("github_comment", COMMENT, "fresh-session-7"))
    _denied_by_pin(call("github_create_issue", {"repo": "acme/public2", "title": "t", "body": "b"}, "x"))
    assert fake.count("POST", ".") == posts  # nothing was sent
    # Writing back to the private repository itself stays allowed: nothing leaves it.
    back = call("github_comment", {"repo": "acme/secret", "number": 1, "body": "noted"})
    assert back.returncode == 0, back.stdout + back.stderr
    assert pins_in_db(config) == [("", "acme/secret")]


def test_cli_workspace_pin_expires_after_the_operators_ttl(workspace: Path, fake: FakeGitHub) -> None:
    config = allow_all_config(workspace, fake, "pin_ttl_s = 600")
    call = CLI(workspace)
    assert call("github_get_repo", {"repo": "acme/secret"}, "s1").returncode == 0
    assert "in the last 600 s" in _denied_by_pin(call("github_comment", COMMENT, "s2"))
    # Ten minutes pass (the pins' clock is their stored time): the workspace pin has expired...
    conn = sqlite3.connect(config.state_dir / "state.db")
    conn.execute("UPDATE github_pins SET pinned_at = pinned_at - 601")
    conn.commit()
    conn.close()
    ok = call("github_comment", COMMENT, "s2")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # ... but the session that read it stays pinned.
    assert "this session read private repository acme/secret" in _denied_by_pin(
        call("github_comment", COMMENT, "s1")
    )
