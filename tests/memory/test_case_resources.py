"""Case files through a real MCP client (official SDK), in both protocol eras."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.shared.exceptions import MCPError

from tests.memory.conftest import Receipts
from tests.memory.test_casefile import build_case
from tollhouse.server.case_resources import register_on_mcpserver
from tollhouse.state import cases
from tollhouse.state.db import StateDB

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]


def _server(state: StateDB, receipts_db: Path):
    mcp = MCPServer("cases-test", log_level="WARNING")
    notifier = register_on_mcpserver(mcp, state, receipts_db)
    return mcp, notifier


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_case_file_read_through_client(state: StateDB, receipts: Receipts, mode: str) -> None:
    await build_case(state, receipts)
    mcp, notifier = _server(state, receipts.path)
    try:
        async with Client(mcp, mode=mode) as client:
            listed = await client.list_resources()
            assert "tollhouse://cases" in [str(r.uri) for r in listed.resources]
            templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
            assert {"case://{case_id}", "case://{case_id}/receipts"} <= set(templates)

            index = json.loads((await client.read_resource("tollhouse://cases")).contents[0].text)
            assert [c["id"] for c in index] == ["pay-1"]

            md = (await client.read_resource("case://pay-1")).contents[0].text
            assert "## Latest handoff" in md and "Found the bad config" in md
            assert "**payments · provider**" in md  # the contradiction
            assert "3 call(s) between" in md and "| shell_run | error 1 |" in md  # the receipts summary

            rec = json.loads((await client.read_resource("case://pay-1/receipts")).contents[0].text)
            assert rec["summary"]["calls"] == 3

            prompt = await client.get_prompt("resume_case", {"case_id": "pay-1"})
            text = prompt.messages[0].content.text
            assert "case_handoff" in text and "Found the bad config" in text

            with pytest.raises(MCPError, match="no case 'nope'"):
                await client.read_resource("case://nope")
            with pytest.raises(MCPError):
                await client.read_resource("case://..%2Fetc")
    finally:
        notifier.close()


async def test_updates_arrive_modern_era(state: StateDB, receipts: Receipts) -> None:
    await build_case(state, receipts)
    mcp, notifier = _server(state, receipts.path)
    try:
        async with Client(mcp) as client:
            assert client.protocol_version == "2026-07-28"
            async with client.listen(resource_subscriptions=["case://pay-1"]) as sub:
                await cases.add_note(state, "pay-1", "new finding", author="a")
                with anyio.fail_after(5):
                    event = await sub.__anext__()
            assert event.uri == "case://pay-1"
            md = (await client.read_resource("case://pay-1")).contents[0].text
            assert "new finding" in md
    finally:
        notifier.close()


async def test_updates_arrive_handshake_era(state: StateDB, receipts: Receipts) -> None:
    await build_case(state, receipts)
    mcp, notifier = _server(state, receipts.path)
    got: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            got.append(str(message.params.uri))
            arrived.set()

    try:
        async with Client(mcp, mode="legacy", message_handler=on_message) as client:
            assert client.server_capabilities.resources.subscribe is True
            await client.subscribe_resource("case://pay-1")
            await cases.write_handoff(state, "pay-1", kind="done", summary="rolled back", author="a")
            with anyio.fail_after(5):
                await arrived.wait()
            assert got == ["case://pay-1"]
            md = (await client.read_resource("case://pay-1")).contents[0].text
            assert md.index("rolled back") < md.index("## Earlier handoffs")
    finally:
        notifier.close()
