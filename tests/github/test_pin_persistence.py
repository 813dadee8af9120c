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


def allow_all_config(root: Path, fake: FakeGitHub):
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
    config = allow_all_config(workspace, fake)
    async with await Gate.open(config) as gate:
        read = await gate.call(
            Call("github_get_file", {"repo": "acme/secret", "path": "keys.txt"}, session="c1")
        )
    assert read.status == "ok"
    assert pins_in_db(config) == [("c1", "acme/secret")]
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


async def test_calls_without_a_session_are_not_pinned_on_disk(workspace: Path, fake: FakeGitHub) -> None:
    config = allow_all_config(workspace, fake)
    async with await Gate.open(config) as gate:
        await gate.call(Call("github_get_repo", {"repo": "acme/secret"}))
        # ... but within the process the sessionless bucket still pins
        leak = await gate.call(Call("github_comment", COMMENT))
    assert leak.status == "denied"
    assert pins_in_db(config) == []


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
    assert pins_in_db(config) == [("r", "acme/secret"), ("r", "acme/vault")]


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
