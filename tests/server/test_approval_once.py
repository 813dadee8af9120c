"""One approval, one run: an approved 2026-07-28 requestState replayed in turn, at once, from another
session, or after it ran, never runs its call a second time; each replay is refused with a receipt."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.server.conftest import outcomes, receipts, start_http, stdio_params, stop
from tollhouse.server.approvals import INPUT_KEY

pytestmark = pytest.mark.anyio

ARGS = {"path": "notes/once.txt", "text": "approved once"}
USED = "this approval was already used"


async def _never(ctx, params):  # declares the elicitation capability; the test answers by hand
    raise AssertionError("the manual flow must not reach the callback")


def yes() -> dict:
    return {INPUT_KEY: types.ElicitResult(action="accept", content={"approve": True})}


def intents(ws: Path) -> list[dict]:
    return [r for r in receipts(ws) if r["kind"] == "intent" and r["tool"] == "demo_note_write"]


async def _retry(session, state: str, args: dict = ARGS) -> types.CallToolResult:  # type: ignore[no-untyped-def]
    return await session.call_tool("demo_note_write", args, input_responses=yes(), request_state=state)


async def test_the_same_approved_state_sent_three_times_runs_once(ws: Path) -> None:
    async with Client(stdio_params(ws), mode="auto", elicitation_callback=_never) as client:
        assert client.protocol_version == "2026-07-28"
        asked = await client.session.call_tool("demo_note_write", ARGS, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        first = await _retry(client.session, asked.request_state)
        assert not first.is_error
        (ws / "notes" / "once.txt").write_text("changed by the person")
        replays = [await _retry(client.session, asked.request_state) for _ in range(2)]
    for r in replays:
        assert r.is_error and USED in r.content[0].text, r.content[0].text
    assert (ws / "notes" / "once.txt").read_text() == "changed by the person"  # not rewritten
    assert len(intents(ws)) == 1
    assert [r["outcome"] for r in outcomes(ws, "demo_note_write")] == [
        "needs_approval",
        "ok",
        "denied",
        "denied",
    ]
    assert all(USED in (r["message"] or "") for r in outcomes(ws, "demo_note_write")[2:])


async def test_concurrent_replays_of_one_approval_run_it_once(ws: Path) -> None:
    results: list[types.CallToolResult] = []
    async with Client(stdio_params(ws), mode="auto", elicitation_callback=_never) as client:
        asked = await client.session.call_tool("demo_note_write", ARGS, allow_input_required=True)

        async def one() -> None:
            results.append(await _retry(client.session, asked.request_state))

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
    assert sorted(r.is_error for r in results) == [False] + [True] * 5
    assert all(USED in r.content[0].text for r in results if r.is_error)
    assert len(intents(ws)) == 1


async def test_a_replay_declined_first_is_still_spent(ws: Path) -> None:
    """A 'no' spends the state too: the same state cannot then be re-sent with a 'yes'."""
    async with Client(stdio_params(ws), mode="auto", elicitation_callback=_never) as client:
        asked = await client.session.call_tool("demo_note_write", ARGS, allow_input_required=True)
        no = {INPUT_KEY: types.ElicitResult(action="decline")}
        declined = await client.session.call_tool(
            "demo_note_write", ARGS, input_responses=no, request_state=asked.request_state
        )
        assert declined.is_error and "declined" in declined.content[0].text
        again = await _retry(client.session, asked.request_state)
        assert again.is_error and USED in again.content[0].text
    assert not (ws / "notes" / "once.txt").exists() and intents(ws) == []


async def test_a_replay_from_another_http_session_is_refused(ws: Path) -> None:
    server = start_http(ws)

    def client() -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {server.token}"})
        return Client(
            streamable_http_client(server.url, http_client=http), mode="auto", elicitation_callback=_never
        )

    try:
        async with client() as first:
            asked = await first.session.call_tool("demo_note_write", ARGS, allow_input_required=True)
            assert isinstance(asked, types.InputRequiredResult)
            assert not (await _retry(first.session, asked.request_state)).is_error
        async with client() as second:
            replay = await _retry(second.session, asked.request_state)
        assert replay.is_error and USED in replay.content[0].text
    finally:
        stop(server.proc)
    assert len(intents(ws)) == 1


async def test_a_handshake_era_approval_is_asked_for_each_call(ws: Path) -> None:
    """Before 2026 there is no token to replay: each call asks anew and one yes runs one call."""
    asked: list[str] = []

    async def approve_first_only(ctx, params):  # type: ignore[no-untyped-def]
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": len(asked) == 1})

    async with Client(stdio_params(ws), mode="legacy", elicitation_callback=approve_first_only) as client:
        first = await client.call_tool("demo_note_write", ARGS)
        second = await client.call_tool("demo_note_write", ARGS)
    assert not first.is_error and second.is_error and len(asked) == 2
    assert len(intents(ws)) == 1
