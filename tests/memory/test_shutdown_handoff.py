"""A server that stops mid-work leaves an `interrupted` handoff on each case its sessions touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from tests.conftest import write_config
from tests.memory.test_case_face import CONFIG, ok, params
from tollhouse.state import cases
from tollhouse.state.db import StateDB

pytestmark = pytest.mark.anyio


async def test_stopping_the_server_writes_interrupted_handoffs(workspace: Path) -> None:
    write_config(workspace, CONFIG)
    async with Client(params(workspace)) as client:
        ok(await client.call_tool("case_open", {"title": "Payments", "id": "pay-1"}))
        # The case is named only by the tool's own case_id argument, not by request metadata.
        ok(await client.call_tool("case_note", {"case_id": "pay-1", "text": "started on refunds"}))
    # Leaving the block closed stdin: the server shut down without any handoff from the agent.
    state = await StateDB.open(workspace / ".tollhouse" / "state.db")
    try:
        found = await cases.handoffs(state, "pay-1")
    finally:
        await state.close()
    assert [h.kind for h in found] == ["interrupted"]
    (h,) = found
    # It names the calls made on the case since the last handoff (case_open named no case_id) and the
    # receipt of each, and leaves the case's status as it was.
    assert [line.split(": ", 1)[1] for line in h.done] == ["case_note -> ok"]
    assert [int(line.split(":")[0].split()[1]) for line in h.done] == h.receipts
    assert h.author == "tollhouse" and h.status_after == "open" and h.last_receipt_seq == max(h.receipts)
