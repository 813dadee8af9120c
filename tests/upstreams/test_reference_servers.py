"""The npm reference MCP servers (server-everything, server-filesystem, server-memory) behind
`tollhouse serve`, driven by the official client over stdio: every content type, resources and
prompts through the gate, progress, cancellation, a secret in a result, path policy."""

from __future__ import annotations

import base64
import gzip
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import receipt_rows, subprocess_env, trust_config
from tests.nodeenv import node_package
from tests.upstreams.conftest import trust_upstream

pytestmark = pytest.mark.anyio

KEY = "evk-7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"

CONFIG = """\
[tools]
families = []

[limits]
timeout_s = 30

[credentials."ev:key"]
source = "env:EV_KEY_FOR_TEST"

[[upstreams]]
name = "ev"
command = ["node", "{mods}/server-everything/dist/index.js", "stdio"]
env = {{ EVERYTHING_API_KEY = "{{ev:key}}" }}

[[upstreams]]
name = "fs"
command = ["node", "{mods}/server-filesystem/dist/index.js", "{root}"]

[upstreams.paths]
read_text_file = ["path"]
write_file = ["path"]

[[upstreams]]
name = "mem"
command = ["node", "{mods}/server-memory/dist/index.js"]
env = {{ MEMORY_FILE_PATH = "{memory}" }}

[[rules]]
id = "ev-all"
tools = ["ev_*"]
effect = "allow"

[[rules]]
id = "ev-private-resources"
tools = ["ev_resource_read"]
effect = "deny"
args = {{ uri = "*private*" }}

[[rules]]
id = "fs-read"
tools = ["fs_read_text_file"]
effect = "allow"
paths = ["**"]

[[rules]]
id = "fs-write-asks"
tools = ["fs_write_file"]
effect = "ask"
paths = ["notes/**"]

[[rules]]
id = "mem"
tools = ["mem_create_entities", "mem_read_graph"]
effect = "allow"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """One workspace for the module, its config and the three upstreams trusted by the CLI."""
    mods = node_package("upstreams") / "node_modules" / "@modelcontextprotocol"
    home = tmp_path_factory.mktemp("home")
    root = tmp_path_factory.mktemp("ws")
    (root / "notes").mkdir()
    (root / "notes" / "hello.txt").write_text("hello from the workspace\n", encoding="utf-8")
    (root / "tollhouse.toml").write_text(
        CONFIG.format(mods=mods, root=root, memory=root.parent / f"{root.name}-memory.jsonl"),
        encoding="utf-8",
    )
    env = subprocess_env(
        TOLLHOUSE_HOME=str(home), EV_KEY_FOR_TEST=KEY, TOLLHOUSE_OWN_SECRET="own-secret-1234"
    )
    # Trusted in this process, as `policy trust` and `upstream trust NAME --yes` do (test_cli runs those).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOLLHOUSE_HOME", str(home))
        patch.setenv("EV_KEY_FOR_TEST", KEY)
        trust_config(root / "tollhouse.toml")

        async def trust_all() -> None:
            async with anyio.create_task_group() as tg:
                for name in ("ev", "fs", "mem"):
                    tg.start_soon(trust_upstream, root, name)

        anyio.run(trust_all)
    yield root, env


def params(root: Path, env: dict[str, str]) -> StdioServerParameters:
    keep = {
        k: env[k]
        for k in ("PYTHONPATH", "TOLLHOUSE_HOME", "PATH", "HOME", "EV_KEY_FOR_TEST", "TOLLHOUSE_OWN_SECRET")
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


def blocks(result: types.CallToolResult) -> list[dict[str, Any]]:
    return [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in result.content]


async def test_every_content_type_of_server_everything_passes_the_gate(served) -> None:
    root, env = served
    async with Client(params(root, env)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ev_echo", "ev_get_tiny_image", "ev_get_resource_links", "fs_read_text_file"} <= names
        assert "fs_move_file" not in names  # no rule could allow it: not listed
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["ev_echo"].annotations.read_only_hint is True

        echo = await client.call_tool("ev_echo", {"message": "hi"})
        assert not echo.is_error and blocks(echo)[0] == {"type": "text", "text": "Echo: hi"}

        image = await client.call_tool("ev_get_tiny_image", {})
        kinds = [b["type"] for b in blocks(image)]
        assert "image" in kinds
        png = next(b for b in blocks(image) if b["type"] == "image")
        assert png["mimeType"] == "image/png" and base64.b64decode(png["data"])[:4] == b"\x89PNG"

        annotated = await client.call_tool(
            "ev_get_annotated_message", {"messageType": "error", "includeImage": True}
        )
        found = blocks(annotated)
        assert [b["type"] for b in found] == ["text", "image"]
        assert found[0]["annotations"]["priority"] == 1.0

        links = await client.call_tool("ev_get_resource_links", {"count": 2})
        assert [b["type"] for b in blocks(links)].count("resource_link") == 2

        ref = await client.call_tool("ev_get_resource_reference", {"resourceType": "Text", "resourceId": 2})
        embedded = [b for b in blocks(ref) if b["type"] == "resource"]
        assert embedded and embedded[0]["resource"]["uri"].endswith("/2")

        data = "data:text/plain;base64," + base64.b64encode(b"squeeze me").decode()
        gz = await client.call_tool(
            "ev_gzip_file_as_resource", {"data": data, "outputType": "resource", "name": "a.gz"}
        )
        blob = next(b for b in blocks(gz) if b["type"] == "resource")["resource"]["blob"]
        assert gzip.decompress(base64.b64decode(blob)) == b"squeeze me"

        structured = await client.call_tool("ev_get_structured_content", {"location": "Chicago"})
        assert set(structured.structured_content) == {"temperature", "conditions", "humidity"}

        progress: list[float] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(done)

        slow = await client.call_tool(
            "ev_trigger_long_running_operation", {"duration": 0.4, "steps": 2}, progress_callback=on_progress
        )
        assert not slow.is_error and progress == [1, 2]

        envs = await client.call_tool("ev_get_env", {})
        text = blocks(envs)[0]["text"]
        assert "EVERYTHING_API_KEY" in text and KEY not in text  # redacted before the client
        assert "TOLLHOUSE_OWN_SECRET" not in text and "own-secret-1234" not in text  # never passed on

    for row in receipt_rows(root / ".tollhouse"):
        assert KEY not in json.dumps(row, default=str)
    rows = [r for r in receipt_rows(root / ".tollhouse") if r["tool"] == "ev_get_tiny_image" and r["details"]]
    details = json.loads(rows[-1]["details"])
    assert (
        details["upstream_server"]["name"] == "mcp-servers/everything" and len(details["tool_sha256"]) == 64
    )


async def test_resources_and_prompts_are_listed_and_read_through_the_gate(served) -> None:
    root, env = served
    async with Client(params(root, env)) as client:
        listed = await client.call_tool("ev_resources_list", {})
        uris = [r["uri"] for r in listed.structured_content["resources"]]
        assert uris and listed.structured_content["templates"]
        read = await client.call_tool("ev_resource_read", {"uri": uris[0]})
        assert not read.is_error and blocks(read)[0]["type"] == "resource"
        denied = await client.call_tool("ev_resource_read", {"uri": "demo://resource/private/1"})
        assert denied.is_error and "ev-private-resources" in denied.content[0].text
        prompts = await client.call_tool("ev_prompts_list", {})
        names = [p["name"] for p in prompts.structured_content["prompts"]]
        assert "simple-prompt" in names
        got = await client.call_tool("ev_prompt_get", {"name": "simple-prompt"})
        assert got.structured_content["messages"][0]["role"] == "user"
    kinds = {r["tool"] for r in receipt_rows(root / ".tollhouse")}
    assert {"ev_resources_list", "ev_resource_read", "ev_prompts_list", "ev_prompt_get"} <= kinds


async def test_cancelling_a_call_cancels_it_upstream_and_is_receipted(served) -> None:
    root, env = served
    async with Client(params(root, env)) as client:
        await client.call_tool("ev_echo", {"message": "warm"})
        started = time.monotonic()
        with anyio.move_on_after(1.0):
            await client.call_tool("ev_trigger_long_running_operation", {"duration": 20, "steps": 4})
        assert time.monotonic() - started < 5
        after = await client.call_tool("ev_echo", {"message": "still here"})
        assert not after.is_error

    async def cancelled() -> bool:
        rows = receipt_rows(root / ".tollhouse")
        return any(
            r["tool"] == "ev_trigger_long_running_operation" and r["outcome"] == "cancelled" for r in rows
        )

    for _ in range(50):
        if await cancelled():
            break
        await anyio.sleep(0.1)
    assert await cancelled()


async def test_filesystem_paths_meet_policy_and_memory_round_trips(served) -> None:
    root, env = served
    async with Client(params(root, env)) as client:
        ok = await client.call_tool("fs_read_text_file", {"path": str(root / "notes" / "hello.txt")})
        assert "hello from the workspace" in blocks(ok)[0]["text"]
        state = await client.call_tool(
            "fs_read_text_file", {"path": str(root / ".tollhouse" / "receipts.db")}
        )
        assert state.is_error and "workspace.state" in state.content[0].text
        outside = await client.call_tool("fs_read_text_file", {"path": "/etc/hostname"})
        assert outside.is_error and "workspace.roots" in outside.content[0].text
        write = await client.call_tool(
            "fs_write_file", {"path": str(root / "notes" / "new.txt"), "content": "x"}
        )
        assert write.is_error and write.content[0].text.startswith("Needs approval")
        assert not (root / "notes" / "new.txt").exists()
        made = await client.call_tool(
            "mem_create_entities",
            {"entities": [{"name": "gate", "entityType": "door", "observations": ["one"]}]},
        )
        assert not made.is_error
        graph = await client.call_tool("mem_read_graph", {})
        assert "gate" in json.dumps(graph.structured_content or blocks(graph))


def test_upstream_tools_are_exported_to_every_provider(served, monkeypatch, tmp_path) -> None:
    from tollhouse.adapters.export import Catalogue, export
    from tollhouse.adapters.skills import write_skills
    from tollhouse.config import load_config

    root, env = served
    monkeypatch.setenv("TOLLHOUSE_HOME", env["TOLLHOUSE_HOME"])
    source = Catalogue(load_config(root / "tollhouse.toml"))
    for target in ("openai", "openai-responses", "anthropic", "gemini", "mcp"):
        text = json.dumps(export(target, source), default=str)
        for name in ("ev_get_structured_content", "fs_read_text_file", "ev_resource_read", "mem_read_graph"):
            assert name in text, (target, name)
        assert "fs_move_file" not in text, target  # no rule could allow it
    written = write_skills(source, tmp_path / "skills")
    assert "ev_echo" in " ".join(p.read_text() for folder in written for p in folder.rglob("*.md"))
