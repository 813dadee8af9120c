"""`tollhouse serve` over stdio, driven by mcp.Client in both protocol eras."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.server.conftest import SECRET, await_for, outcomes, receipts, stdio_params
from tollhouse.server.demo_tools import TOOLS
from tollhouse.server.results import nullable_as_type_list

MODES = ["auto", "legacy"]
ERA = {"auto": "2026-07-28", "legacy": "2025-11-25"}


def accept(answer: bool, prompts: list[str]):
    async def on_elicit(ctx, params):
        prompts.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": answer})

    return on_elicit


async def decline(ctx, params):
    return types.ElicitResult(action="decline")


def text(result) -> str:
    return " ".join(c.text for c in result.content)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_listing_allowed_denied_invalid_unknown(ws: Path, mode: str) -> None:
    async with Client(stdio_params(ws), mode=mode) as client:
        assert client.protocol_version == ERA[mode]
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert sorted(listed) == sorted(t.name for t in TOOLS)
        for tool in TOOLS:
            got = listed[tool.name]
            assert got.input_schema == tool.input_model.model_json_schema()  # advertised verbatim
            assert got.title == tool.title
            expected_out = (
                nullable_as_type_list(tool.output_model.model_json_schema()) if tool.output_model else None
            )
            assert got.output_schema == expected_out
            hints = got.annotations.model_dump(by_alias=True, exclude_none=True)
            assert {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} <= set(hints)
        assert listed["demo_note_write"].annotations.read_only_hint is False
        assert listed["demo_note_write"].annotations.destructive_hint is True
        assert listed["demo_note_read"].annotations.read_only_hint is True
        assert listed["demo_note_read"].annotations.open_world_hint is False

        ok = await client.call_tool(
            "demo_note_read", {"path": "notes/welcome.txt"}, meta={"tollhouse/case": "C-7"}
        )
        assert not ok.is_error
        assert ok.structured_content == {"path": "notes/welcome.txt", "text": "welcome\n"}
        assert json.loads(text(ok)) == ok.structured_content

        denied = await client.call_tool("demo_note_read", {"path": "secrets/key.txt"})
        assert denied.is_error and "no-secrets" in text(denied) and SECRET not in text(denied)

        bad = await client.call_tool("demo_note_read", {"path": 42})
        assert bad.is_error and "invalid arguments for demo_note_read" in text(bad) and "path" in text(bad)

        extra = await client.call_tool("demo_note_read", {"path": "notes/welcome.txt", "mode": "x"})
        assert extra.is_error and "mode" in text(extra)

        unknown = await client.call_tool("no_such_tool", {"x": 1})
        assert unknown.is_error and "unknown tool 'no_such_tool'" in text(unknown)

        big = await client.call_tool("demo_note_read", {"path": "notes/" + "a" * 5000})
        assert big.is_error and "max_argument_bytes" in text(big)

    rows = receipts(ws)
    reads = [r for r in rows if r["kind"] == "outcome" and r["tool"] == "demo_note_read"]
    assert [r["outcome"] for r in reads] == ["ok", "denied", "error", "error", "error"]
    assert (
        reads[0]["channel"] == "mcp-stdio"
        and reads[0]["client"] == "mcp/" + reads[0]["client"].split("/", 1)[1]
    )
    assert reads[0]["case_id"] == "C-7"
    assert reads[1]["rules"] == ["no-secrets"]
    assert [r["outcome"] for r in outcomes(ws, "no_such_tool")] == ["error"]
    assert len({r["session"] for r in reads}) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_approval_accept_shows_exact_call_and_hides_secrets(ws: Path, mode: str) -> None:
    prompts: list[str] = []
    async with Client(stdio_params(ws), mode=mode, elicitation_callback=accept(True, prompts)) as client:
        body = f"token {SECRET}"
        r = await client.call_tool("demo_note_write", {"path": "notes/a.txt", "text": body})
        assert not r.is_error, text(r)
        assert r.structured_content == {"path": "notes/a.txt", "bytes": len(body)}
    assert (ws / "notes" / "a.txt").read_text() == body
    assert len(prompts) == 1
    prompt = prompts[0]
    assert "demo_note_write" in prompt and "notes/a.txt" in prompt and "notes-write-asks" in prompt
    assert SECRET not in prompt  # the gate's redacted arguments, never the secret
    final = outcomes(ws, "demo_note_write")[-1]
    assert final["outcome"] == "ok" and final["approver"].startswith("mcp-elicitation:mcp")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_approval_declined_or_answered_no_does_not_run(ws: Path, mode: str) -> None:
    async with Client(stdio_params(ws), mode=mode, elicitation_callback=decline) as client:
        r = await client.call_tool("demo_note_write", {"path": "notes/b.txt", "text": "x"})
        assert r.is_error and "declined" in text(r) and "notes-write-asks" in text(r)
    prompts: list[str] = []
    async with Client(stdio_params(ws), mode=mode, elicitation_callback=accept(False, prompts)) as client:
        r = await client.call_tool("demo_note_write", {"path": "notes/b.txt", "text": "x"})
        assert r.is_error and "declined" in text(r)
    assert not (ws / "notes" / "b.txt").exists()
    assert [r["outcome"] for r in outcomes(ws, "demo_note_write")][-1] == "denied"
    assert not [r for r in receipts(ws) if r["kind"] == "intent" and r["tool"] == "demo_note_write"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_no_elicitation_support_denies_with_grant_hint(ws: Path, mode: str) -> None:
    async with Client(stdio_params(ws), mode=mode) as client:
        r = await client.call_tool("demo_note_write", {"path": "notes/c.txt", "text": "x"})
    assert r.is_error and "tollhouse grant demo_note_write" in text(r)
    assert not (ws / "notes" / "c.txt").exists()
    assert outcomes(ws, "demo_note_write")[-1]["outcome"] == "needs_approval"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_progress_and_cancellation(ws: Path, mode: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p, total, message):
        seen.append((p, total, message))

    async with Client(stdio_params(ws), mode=mode) as client:
        r = await client.call_tool("demo_wait", {"seconds": 0.2, "steps": 3}, progress_callback=on_progress)
        assert not r.is_error
        assert [s[0] for s in seen] == [1, 2, 3] and seen[-1][2] == "step 3 of 3"

        with anyio.move_on_after(0.5):
            await client.call_tool("demo_wait", {"seconds": 20, "steps": 20})
        cancelled = await await_for(
            lambda: [r for r in outcomes(ws, "demo_wait") if r["outcome"] == "cancelled"], 5
        )
        assert cancelled, [r["outcome"] for r in outcomes(ws, "demo_wait")]
        # The session is still usable after a cancel.
        again = await client.call_tool("demo_noop", {})
        assert not again.is_error and text(again) == "ok"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_resources_are_served_and_receipted(ws: Path, mode: str) -> None:
    async with Client(stdio_params(ws), mode=mode) as client:
        await client.call_tool("demo_note_read", {"path": "notes/welcome.txt"})
        listed = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        assert listed == ["tollhouse://cases", "tollhouse://policy", "tollhouse://receipts/recent"]
        templates = sorted(
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        )
        assert templates == ["case://{id}", "case://{id}/receipts", "tollhouse://receipts/{id}"]

        policy = json.loads((await client.read_resource("tollhouse://policy")).contents[0].text)
        assert "no-secrets" in json.dumps(policy)

        recent = json.loads((await client.read_resource("tollhouse://receipts/recent")).contents[0].text)
        seqs = [e["seq"] for e in recent["receipts"]]
        assert seqs == sorted(seqs, reverse=True)
        # Newest first: the policy read's own receipt, then the call before it.
        assert recent["receipts"][0]["details"] == {
            "event": "resource_read",
            "uri": "tollhouse://policy",
            "status": "ok",
        }
        # demo_note_read is read-only: one entry (receipts v2).
        assert [(e["tool"], e["kind"]) for e in recent["receipts"][1:]] == [("demo_note_read", "outcome")]

        one = json.loads((await client.read_resource(f"tollhouse://receipts/{seqs[-1]}")).contents[0].text)
        assert one["seq"] == seqs[-1]

        with pytest.raises(MCPError) as err:
            await client.read_resource("tollhouse://receipts/999999")
        assert "Unknown resource" in str(err.value.error.message)
        with pytest.raises(MCPError):
            await client.read_resource("tollhouse://receipts/..%2F..%2Fetc")
        with pytest.raises(MCPError):
            await client.read_resource("file:///etc/passwd")
    events = [r for r in receipts(ws) if r["kind"] == "event"]
    uris = [(e["details"]["uri"], e["details"]["status"]) for e in events]
    assert ("tollhouse://policy", "ok") in uris and ("tollhouse://receipts/999999", "not_found") in uris
    assert ("file:///etc/passwd", "not_found") in uris
    assert all(e["channel"] == "mcp-stdio" for e in events)


@pytest.mark.anyio
async def test_the_recent_list_cuts_long_strings_and_points_to_the_whole_receipt(ws: Path) -> None:
    long = "A" * 3000  # under this workspace's limits.max_argument_bytes (4096)
    async with Client(stdio_params(ws), mode="auto") as client:
        asked = await client.call_tool("demo_note_write", {"path": "notes/long.txt", "text": long})
        assert asked.is_error  # no approver: needs approval, receipted with its arguments
        recent = json.loads((await client.read_resource("tollhouse://receipts/recent")).contents[0].text)
        entry = next(e for e in recent["receipts"] if e["tool"] == "demo_note_write")
        seq = entry["seq"]
        cut = "A" * 1000 + f"… [3000 characters; whole: tollhouse://receipts/{seq}]"
        assert entry["arguments"] == {"path": "notes/long.txt", "text": cut}
        assert "are cut here" in recent["note"]
        whole = json.loads((await client.read_resource(f"tollhouse://receipts/{seq}")).contents[0].text)
        assert whole["arguments"]["text"] == long
