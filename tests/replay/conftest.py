"""A recorded history of 1,200 real calls, written once per module through a real gate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import anyio
import pytest

from tests.conftest import write_config

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # GitHub token shape: redacted in receipts

V1 = """
[tools]
families = []
modules = ["tests.replay.replay_tools"]

[[rules]]
id = "read-src"
tools = ["rp_read"]
paths = ["src/**"]
effect = "allow"

[[rules]]
id = "read-docs"
tools = ["rp_read"]
paths = ["docs/**"]
effect = "allow"

[[rules]]
id = "write-src"
tools = ["rp_write"]
paths = ["src/**"]
effect = "ask"

[[rules]]
id = "write-docs"
tools = ["rp_write"]
paths = ["docs/**"]
effect = "allow"

[[rules]]
id = "no-secrets"
tools = ["rp_read", "rp_write"]
paths = ["secrets/**"]
effect = "deny"

[[rules]]
id = "repos-acme"
tools = ["rp_repo"]
repos = ["acme/*"]
effect = "allow"
"""

# docs reads: allow -> default deny (tightened); src writes: ask -> allow (loosened); octo repos:
# deny -> allow (loosened); docs writes: same effect under a renamed rule ("rules").
V2 = (
    V1.replace(
        'id = "read-docs"\ntools = ["rp_read"]\npaths = ["docs/**"]',
        'id = "read-docs"\ntools = ["rp_read"]\npaths = ["nowhere/**"]',
    )
    .replace('paths = ["src/**"]\neffect = "ask"', 'paths = ["src/**"]\neffect = "allow"')
    .replace('repos = ["acme/*"]', 'repos = ["acme/*", "octo/*"]')
    .replace('id = "write-docs"', 'id = "write-docs-v2"')
)

PATHS = ["src/a{}.py", "docs/d{}.md", "secrets/k{}", "tmp/x{}"]
REPOS = ["acme/widget", "octo/public", "evil/x"]
N = 1200


def history_call(i: int) -> tuple[str, dict]:
    kind = i % 3
    note = ""
    if i % 50 == 7:
        note = f"token={TOKEN}"
    elif i % 97 == 5:
        note = "x" * 5000  # over receipts.max_value_bytes: kept as its digest
    if kind == 2:
        return "rp_repo", {"repo": REPOS[(i // 3) % len(REPOS)], "count": i % 4 + 1}
    path = PATHS[(i // 3) % len(PATHS)].format(i % 11)
    args = {"path": path}
    if note:
        args["note"] = note
    return ("rp_read" if kind == 0 else "rp_write"), args


def effect_under(policy: str, tool: str, args: dict) -> tuple[str, tuple[str, ...]]:
    """What each policy decides, written out by hand (independent of the engine)."""
    if tool == "rp_repo":
        owner = args["repo"].split("/")[0]
        if owner == "acme" or (policy == "v2" and owner == "octo"):
            return "allow", ("repos-acme",)
        return "deny", ("default-deny",)
    top = args["path"].split("/")[0]
    if top == "secrets":
        return "deny", ("no-secrets",)
    if tool == "rp_read":
        if top == "src":
            return "allow", ("read-src",)
        if top == "docs" and policy == "v1":
            return "allow", ("read-docs",)
        return "deny", ("default-deny",)
    if top == "src":
        return ("ask", ("write-src",)) if policy == "v1" else ("allow", ("write-src",))
    if top == "docs":
        return "allow", ("write-docs" if policy == "v1" else "write-docs-v2",)
    return "deny", ("default-deny",)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workspace (tollhouse.toml = V1 trusted, candidate v2.toml beside it) with 1,200 calls."""
    import os

    from tollhouse.config import load_config
    from tollhouse.gate.gate import Gate
    from tollhouse.gate.types import Call

    home = tmp_path_factory.mktemp("home")
    old_home = os.environ.get("TOLLHOUSE_HOME")
    os.environ["TOLLHOUSE_HOME"] = str(home)
    root = tmp_path_factory.mktemp("replay") / "ws"
    root.mkdir()
    config = load_config(write_config(root, textwrap.dedent(V1)))
    (root / "v2.toml").write_text(V2)

    async def record() -> None:
        async with await Gate.open(config) as gate:
            for start in range(0, N, 100):  # concurrent batches: the store commits them in groups
                async with anyio.create_task_group() as tg:
                    for i in range(start, min(N, start + 100)):
                        tool, args = history_call(i)
                        call = Call(tool=tool, arguments=args, session=f"s{i % 4}", call_id=f"c{i:05d}")
                        tg.start_soon(gate.call, call)

    anyio.run(record)
    if old_home is None:
        os.environ.pop("TOLLHOUSE_HOME", None)
    else:
        os.environ["TOLLHOUSE_HOME"] = old_home
    return root
