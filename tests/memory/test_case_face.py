"""Case files through `tollhouse serve` over stdio: a real subprocess, a real MCP client, both eras."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import subprocess_env, write_config
from tollhouse.state import cases
from tollhouse.state.db import StateDB

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

CONFIG = """\
[tools]
families = ["memory", "cases", "files"]

[[rules]]
id = "work"
tools = ["case_*", "memory_propose", "memory_search", "files_read"]
effect = "allow"

[[rules]]
id = "payments-facts"
tools = ["memory_write"]
args = { subject = "payments" }
effect = "allow"
"""


def params(root: Path) -> StdioServerParameters:
    env = subprocess_env(TOLLHOUSE_CONFIG=str(root / "tollhouse.toml"))
    names = ("PYTHONPATH", "TOLLHOUSE_CONFIG", "TOLLHOUSE_HOME", "PATH", "HOME")
    keep = {k: env[k] for k in names if k in env}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


def ok(result: types.CallToolResult) -> dict:
    assert not result.is_error, result.content
    return result.structured_content


CASE = {"tollhouse/case": "pay-1"}


async def _work(client: Client) -> None:
    ok(await client.call_tool("case_open", {"title": "Payments", "id": "pay-1", "tags": ["payments"]}))
    for provider in ("stripe", "adyen"):
        ok(
            await client.call_tool(
                "memory_write",
                {"subject": "payments", "predicate": "provider", "object": provider},
                meta=CASE,
            )
        )
    denied = await client.call_tool("files_read", {"path": "missing.txt"}, meta=CASE)
    assert denied.is_error
    ok(
        await client.call_tool(
            "case_handoff",
            {
                "kind": "blocked",
                "summary": "Two providers on record",
                "blockers": ["which provider is live?"],
            },
            meta=CASE,
        )
    )


async def test_case_file_and_notifications_modern(workspace: Path) -> None:
    write_config(workspace, CONFIG)
    async with Client(params(workspace)) as client:
        assert client.protocol_version == "2026-07-28"
        ok(await client.call_tool("case_open", {"title": "Payments", "id": "pay-1"}))
        async with client.listen(resource_subscriptions=["case://pay-1"]) as sub:
            await _work(client)
            with anyio.fail_after(10):
                event = await sub.__anext__()
        assert event.uri == "case://pay-1"
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert {"case://{id}", "case://{id}/receipts"} <= templates
        md = (await client.read_resource("case://pay-1")).contents[0].text
        latest = md.split("## Latest handoff")[1].split("##")[0]
        assert "Two providers on record" in latest and "which provider is live?" in latest
        contradictions = md.split("## Contradictions")[1].split("##")[0]
        assert "payments · provider" in contradictions and "'stripe'" in contradictions
        receipts = md.split("## Receipts")[1].split("## Pending")[0]
        assert "| memory_write | ok 2 |" in receipts and "| files_read | error 1 |" in receipts
        prompt = await client.get_prompt("resume_case", {"case_id": "pay-1"})
        assert "Two providers on record" in prompt.messages[0].content.text


async def test_notifications_handshake_era_and_interrupted_handoff(workspace: Path) -> None:
    write_config(workspace, CONFIG)
    got: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            got.append(str(message.params.uri))
            arrived.set()

    async with Client(params(workspace), mode="legacy", message_handler=on_message) as client:
        ok(await client.call_tool("case_open", {"title": "Payments", "id": "pay-1"}))
        await client.subscribe_resource("case://pay-1")
        ok(await client.call_tool("case_note", {"text": "started"}, meta=CASE))
        with anyio.fail_after(10):
            await arrived.wait()
        assert got[0] == "case://pay-1"
        ok(await client.call_tool("memory_search", {"query": "anything"}, meta=CASE))
    # The server wrote the interrupted handoff itself when the client went away.
    state = await StateDB.open(workspace / ".tollhouse" / "state.db")
    try:
        written = await cases.handoffs(state, "pay-1")
        assert [(h.case_id, h.kind, [d.split(": ", 1)[1] for d in h.done]) for h in written] == [
            ("pay-1", "interrupted", ["case_note -> ok", "memory_search -> ok"])
        ]
        # Running it again finds nothing new: the same calls are never listed twice.
        assert await cases.write_interrupted_handoffs(state, workspace / ".tollhouse" / "receipts.db") == []
    finally:
        await state.close()
