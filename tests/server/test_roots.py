"""Client roots over a real stdio server: they narrow a files call, never widen it, and are cached per
session until the client says they changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

from tests.conftest import write_config
from tests.server.conftest import outcomes, stdio_params

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

CONFIG = """\
[tools]
families = ["files"]

[[rules]]
id = "read-anything"
tools = ["files_read"]
effect = "allow"
"""


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    ws = tmp_path / "ws"
    for sub in ("a", "b"):
        (ws / sub).mkdir(parents=True)
        (ws / sub / "note.txt").write_text(f"in {sub}\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the agent\n", encoding="utf-8")
    write_config(ws, CONFIG)
    return {"ws": ws, "a": ws / "a" / "note.txt", "b": ws / "b" / "note.txt", "out": outside / "secret.txt"}


class Roots:
    """What the client announces, and how often the server asked."""

    def __init__(self, *dirs: Path) -> None:
        self.dirs = list(dirs)
        self.asked = 0

    async def __call__(self, ctx: Any) -> types.ListRootsResult:
        self.asked += 1
        return types.ListRootsResult(roots=[types.Root(uri=d.as_uri(), name=d.name) for d in self.dirs])


async def read(client: Client, path: Path) -> types.CallToolResult:
    return await client.call_tool("files_read", {"path": str(path)})


def text(result: types.CallToolResult) -> str:
    return result.content[0].text  # type: ignore[union-attr]


async def test_client_roots_narrow_a_files_call(tree: dict[str, Path]) -> None:
    roots = Roots(tree["ws"] / "a")
    async with Client(stdio_params(tree["ws"]), mode="legacy", list_roots_callback=roots) as client:
        inside = await read(client, tree["a"])
        assert not inside.is_error and "in a" in text(inside)
        # Inside the operator's workspace, but outside the client's root: denied, rule named.
        narrowed = await read(client, tree["b"])
        assert narrowed.is_error and "workspace.roots" in text(narrowed), text(narrowed)
        assert "in b" not in text(narrowed)
    assert roots.asked == 1  # cached for the session, not asked per call
    assert [r["outcome"] for r in outcomes(tree["ws"], "files_read")] == ["ok", "denied"]


async def test_client_roots_never_widen(tree: dict[str, Path]) -> None:
    # The client claims the parent folder (workspace and its sibling) and the sibling itself.
    roots = Roots(tree["ws"].parent, tree["out"].parent)
    async with Client(stdio_params(tree["ws"]), mode="legacy", list_roots_callback=roots) as client:
        outside = await read(client, tree["out"])
        assert outside.is_error and "workspace.roots" in text(outside), text(outside)
        assert "not for the agent" not in text(outside)
        inside = await read(client, tree["b"])  # the operator's root still applies in full
        assert not inside.is_error and "in b" in text(inside)


async def test_roots_outside_the_workspace_leave_no_root_at_all(tree: dict[str, Path]) -> None:
    roots = Roots(tree["out"].parent)
    async with Client(stdio_params(tree["ws"]), mode="legacy", list_roots_callback=roots) as client:
        for path in (tree["a"], tree["out"]):
            result = await read(client, path)
            assert result.is_error and "in a" not in text(result) and "not for" not in text(result)


async def test_roots_list_changed_is_honoured(tree: dict[str, Path]) -> None:
    roots = Roots(tree["ws"] / "a")
    async with Client(stdio_params(tree["ws"]), mode="legacy", list_roots_callback=roots) as client:
        assert (await read(client, tree["b"])).is_error
        roots.dirs = [tree["ws"] / "b"]
        await client.session.send_roots_list_changed()
        now_b = await read(client, tree["b"])
        assert not now_b.is_error and "in b" in text(now_b)
        assert (await read(client, tree["a"])).is_error
    assert roots.asked == 2


async def test_without_roots_capability_the_operator_roots_apply(tree: dict[str, Path]) -> None:
    async with Client(stdio_params(tree["ws"]), mode="legacy") as client:
        for path in (tree["a"], tree["b"]):
            assert not (await read(client, path)).is_error
        assert (await read(client, tree["out"])).is_error


async def test_2026_era_does_not_ask_for_roots(tree: dict[str, Path]) -> None:
    # Roots are deprecated in 2026-07-28 and asking would add a round trip to every call (docs/clients.md).
    roots = Roots(tree["ws"] / "a")
    async with Client(stdio_params(tree["ws"]), mode="auto", list_roots_callback=roots) as client:
        assert client.protocol_version == "2026-07-28"
        assert not (await read(client, tree["b"])).is_error
    assert roots.asked == 0
