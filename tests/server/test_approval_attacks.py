"""An attacker driving the 2026-07-28 approval round trip by hand: replays, forgeries, and answers
that are not a clear yes must never run the tool."""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.conftest import trust_config
from tests.server.conftest import outcomes, stdio_params
from tollhouse.server.approvals import INPUT_KEY


async def _never(ctx, params):  # declares the elicitation capability; the attacker answers by hand
    raise AssertionError("the manual flow must not reach the callback")


def yes(content: dict | None = None) -> dict:
    return {INPUT_KEY: types.ElicitResult(action="accept", content=content or {"approve": True})}


@pytest.mark.anyio
async def test_replayed_approval_onto_other_arguments_is_refused(ws: Path) -> None:
    async with Client(stdio_params(ws), mode="auto", elicitation_callback=_never) as client:
        assert client.protocol_version == "2026-07-28"
        session = client.session
        asked = await session.call_tool(
            "demo_note_write", {"path": "notes/ok.txt", "text": "harmless"}, allow_input_required=True
        )
        assert isinstance(asked, types.InputRequiredResult)
        request = asked.input_requests[INPUT_KEY]
        assert "notes/ok.txt" in request.params.message
        schema = request.params.requested_schema
        # One boolean: nothing a secret could be typed into.
        assert (
            set(schema["properties"]) == {"approve"} and schema["properties"]["approve"]["type"] == "boolean"
        )

        # The state approved for notes/ok.txt, replayed onto notes/evil.txt.
        with pytest.raises(MCPError) as err:
            await session.call_tool(
                "demo_note_write",
                {"path": "notes/evil.txt", "text": "harmful"},
                input_responses=yes(),
                request_state=asked.request_state,
            )
        assert err.value.error.code == types.INVALID_PARAMS
        # ... or onto another tool.
        with pytest.raises(MCPError):
            await session.call_tool(
                "demo_note_read",
                {"path": "notes/ok.txt"},
                input_responses=yes(),
                request_state=asked.request_state,
            )
        # A forged state.
        with pytest.raises(MCPError):
            await session.call_tool(
                "demo_note_write",
                {"path": "notes/evil.txt", "text": "harmful"},
                input_responses=yes(),
                request_state='{"kind": "tollhouse.approval.v1", "tool": "demo_note_write"}',
            )
        # An answer without any state is a question asked again, never a yes.
        again = await session.call_tool(
            "demo_note_write",
            {"path": "notes/evil.txt", "text": "harmful"},
            input_responses=yes(),
            allow_input_required=True,
        )
        assert isinstance(again, types.InputRequiredResult)
        # The genuine round trip works.
        done = await session.call_tool(
            "demo_note_write",
            {"path": "notes/ok.txt", "text": "harmless"},
            input_responses=yes(),
            request_state=asked.request_state,
        )
        assert not done.is_error
    assert not (ws / "notes" / "evil.txt").exists()
    assert (ws / "notes" / "ok.txt").read_text() == "harmless"
    assert [r["outcome"] for r in outcomes(ws, "demo_note_write")][-1] == "ok"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content",
    [{"approve": "true"}, {"approve": 1}, {"approve": False}, {}, {"approve": None, "note": "x"}],
)
async def test_anything_but_a_boolean_yes_is_a_no(ws: Path, content: dict) -> None:
    async with Client(stdio_params(ws), mode="auto", elicitation_callback=_never) as client:
        args = {"path": "notes/maybe.txt", "text": "?"}
        asked = await client.session.call_tool("demo_note_write", args, allow_input_required=True)
        result = await client.session.call_tool(
            "demo_note_write",
            args,
            input_responses={INPUT_KEY: types.ElicitResult(action="accept", content=content)},
            request_state=asked.request_state,
            allow_input_required=True,
        )
    assert isinstance(result, types.CallToolResult) and result.is_error
    assert "declined" in result.content[0].text
    assert not (ws / "notes" / "maybe.txt").exists()


@pytest.mark.anyio
async def test_legacy_elicitation_answers_that_are_not_a_yes_deny(ws: Path) -> None:
    async def cancel(ctx, params):
        return types.ElicitResult(action="cancel")

    async with Client(stdio_params(ws), mode="legacy", elicitation_callback=cancel) as client:
        r = await client.call_tool("demo_note_write", {"path": "notes/n.txt", "text": "x"})
    assert r.is_error and "elicitation cancel" in r.content[0].text
    assert not (ws / "notes" / "n.txt").exists()


@pytest.mark.anyio
async def test_an_approval_answered_after_it_expired_does_not_run(workspace: Path) -> None:
    from tests.server.conftest import make_workspace

    ws = make_workspace(workspace, "")
    text = (ws / "tollhouse.toml").read_text().replace("ttl_s = 60", "ttl_s = 1")
    (ws / "tollhouse.toml").write_text(text)
    trust_config(ws / "tollhouse.toml")
    async with Client(stdio_params(ws), mode="auto", elicitation_callback=_never) as client:
        session = client.session
        asked = await session.call_tool(
            "demo_note_write", {"path": "notes/late.txt", "text": "late"}, allow_input_required=True
        )
        assert isinstance(asked, types.InputRequiredResult)
        assert "expires in 1 s" in asked.input_requests[INPUT_KEY].params.message
        await anyio.sleep(1.5)
        with pytest.raises(MCPError) as err:
            await session.call_tool(
                "demo_note_write",
                {"path": "notes/late.txt", "text": "late"},
                input_responses=yes(),
                request_state=asked.request_state,
            )
        assert err.value.error.code == types.INVALID_PARAMS
    assert not (ws / "notes" / "late.txt").exists()
    assert "ok" not in [r["outcome"] for r in outcomes(ws, "demo_note_write")]


@pytest.mark.anyio
async def test_one_principals_approval_cannot_be_answered_with_another_token(workspace: Path) -> None:
    import hashlib

    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from tests.server.conftest import make_workspace, start_http, stop

    alice = "alice-token-" + "y" * 40
    digest = hashlib.sha256(alice.encode()).hexdigest()
    ws = make_workspace(workspace, f'\n[http]\ntokens = [{{principal = "alice", sha256 = "{digest}"}}]\n')
    server = start_http(ws)

    def as_(token: str) -> Client:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        return Client(
            streamable_http_client(server.url, http_client=http), mode="auto", elicitation_callback=_never
        )

    try:
        async with as_(alice) as client:
            asked = await client.session.call_tool(
                "demo_note_write", {"path": "notes/alice.txt", "text": "a"}, allow_input_required=True
            )
            assert isinstance(asked, types.InputRequiredResult)
        async with as_(server.token) as other:
            with pytest.raises(MCPError) as err:
                await other.session.call_tool(
                    "demo_note_write",
                    {"path": "notes/alice.txt", "text": "a"},
                    input_responses=yes(),
                    request_state=asked.request_state,
                )
            assert err.value.error.code == types.INVALID_PARAMS
    finally:
        stop(server.proc)
    assert not (ws / "notes" / "alice.txt").exists()
