"""Roots only narrow: rules and immutable globs are anchored at the operator's roots, never at a root a
client announced. A handshake-era client announcing ``ws/deploy`` must not turn ``deploy/prod.yml``
into ``prod.yml`` and slip past ``deny paths = ["deploy/**"]`` or an immutable ``locked/**``."""

from __future__ import annotations

import os
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

[workspace]
immutable = ["locked/**"]

[[rules]]
id = "no-deploy"
tools = ["files_*"]
paths = ["deploy/**"]
effect = "deny"

[[rules]]
id = "files-all"
tools = ["files_read", "files_write", "files_list", "files_search", "files_stat"]
effect = "allow"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    for sub in ("deploy", "locked", "other"):
        (ws / sub).mkdir(parents=True)
    (ws / "deploy" / "prod.yml").write_text("replicas: 3\n", encoding="utf-8")
    (ws / "locked" / "x.yml").write_text("locked\n", encoding="utf-8")
    os.symlink(ws / "deploy", ws / "link")  # a root announced through a link
    write_config(ws, CONFIG)
    return ws


def uri(path: str) -> str:
    return "file://" + path  # as announced: ``..`` and links kept, not normalised by the client


async def announce(ws: Path, roots: list[str], calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    async def list_roots(ctx: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=uri(r)) for r in roots])

    texts = []
    async with Client(stdio_params(ws), mode="legacy", list_roots_callback=list_roots) as client:
        for tool, args in calls:
            result = await client.call_tool(tool, args)
            text = result.content[0].text  # type: ignore[union-attr]
            texts.append(("ERROR " if result.is_error else "OK ") + text)
    return texts


def snapshot(ws: Path) -> dict[str, str]:
    return {p: (ws / p).read_text() for p in ("deploy/prod.yml", "locked/x.yml")}


@pytest.mark.parametrize(
    ("roots", "deploy_name", "locked_name"),
    [
        (["{ws}/deploy"], "prod.yml", None),  # root = the denied folder itself
        (["{ws}/deploy/../deploy"], "prod.yml", None),  # a ..-style root
        (["{ws}/link"], "prod.yml", None),  # a root that is a symlink to the folder
        (["{ws}/deploy", "{ws}/locked"], "prod.yml", "{ws}/locked/x.yml"),  # several roots
        (["{ws}/locked", "{ws}/deploy"], "{ws}/deploy/prod.yml", "x.yml"),  # the other first
        (["{ws}"], "deploy/prod.yml", "locked/x.yml"),  # root equal to the workspace
        (["{ws}/./"], "deploy/prod.yml", "locked/x.yml"),
    ],
)
async def test_client_roots_never_re_anchor_rules(
    ws: Path, roots: list[str], deploy_name: str, locked_name: str | None
) -> None:
    before = snapshot(ws)
    fill = {"ws": str(ws)}
    deploy = deploy_name.format(**fill)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("files_write", {"path": deploy, "content": "replicas: 0\n", "overwrite": True}),
        ("files_read", {"path": deploy}),
        ("files_stat", {"path": deploy}),
    ]
    if locked_name is not None:
        calls.append(("files_write", {"path": locked_name.format(**fill), "content": "x", "overwrite": True}))
    texts = await announce(ws, [r.format(**fill) for r in roots], calls)
    for text in texts[:3]:
        assert text.startswith("ERROR ") and "no-deploy" in text, text
        assert "path deploy/prod.yml matches deploy/**" in text, text
        assert "replicas" not in text
    if locked_name is not None:
        assert texts[3].startswith("ERROR ") and "workspace.immutable" in texts[3], texts[3]
        assert "path locked/x.yml is immutable" in texts[3], texts[3]
    assert snapshot(ws) == before
    assert {r["outcome"] for r in outcomes(ws, "files_write")} == {"denied"}


async def test_a_narrowed_root_still_works_and_names_paths_from_the_workspace(ws: Path) -> None:
    texts = await announce(
        ws,
        [str(ws / "other")],
        [
            ("files_write", {"path": "a.txt", "content": "hello\n"}),
            ("files_read", {"path": "a.txt"}),
            ("files_read", {"path": "../deploy/prod.yml"}),  # outside the client's root
        ],
    )
    assert texts[0].startswith("OK ") and (ws / "other" / "a.txt").read_text() == "hello\n"
    assert texts[1].startswith("OK ") and '"path":"other/a.txt"' in texts[1].replace(" ", ""), texts[1]
    assert texts[2].startswith("ERROR ") and "replicas" not in texts[2]
