"""An upstream that asks the client something during a call (elicitation, sampling) and one that
returns audio, behind a real `tollhouse serve` and a real client session over stdio."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import receipt_rows, subprocess_env
from tests.upstreams.conftest import HERE, make_config, trust_upstream

pytestmark = pytest.mark.anyio

TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ987654"  # a token shape the redactor knows
RULES = """
[[rules]]
id = "relay-read"
tools = ["rel_*"]
effect = "allow"
"""


def _config(root: Path, relay: str | None) -> None:
    body = f'[[upstreams]]\nname = "rel"\ncommand = ["{sys.executable}", "{HERE / "relay_server.py"}"]\n'
    if relay is not None:
        body += f"relay = {relay}\n"
    make_config(root, body + RULES)


def _params(root: Path) -> StdioServerParameters:
    env = subprocess_env()
    keep = {k: env[k] for k in ("PYTHONPATH", "TOLLHOUSE_HOME", "PATH", "HOME")}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


@pytest.fixture
async def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    _config(root, '["elicitation", "sampling"]')
    await trust_upstream(root, "rel", cached=True)
    return root


def _events(root: Path) -> list[dict[str, Any]]:
    rows = [r for r in receipt_rows(root / ".tollhouse") if r["kind"] == "event"]
    return [json.loads(r["details"]) for r in rows if "upstream_" in (r["details"] or "")]


async def test_elicitation_and_sampling_reach_the_client_of_the_call_and_are_receipted(ws: Path) -> None:
    asked: list[str] = []
    sampled: list[Any] = []

    async def on_elicit(ctx: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def on_sample(ctx: Any, params: Any) -> types.CreateMessageResult:
        sampled.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="short"), model="m-1"
        )

    async with Client(
        _params(ws), mode="legacy", elicitation_callback=on_elicit, sampling_callback=on_sample
    ) as client:
        greeted = await client.call_tool("rel_greet", {"greeting": "hello"})
        summed = await client.call_tool("rel_summarise", {"text": f"the key is {TOKEN}"})
        secret = await client.call_tool("rel_greet", {"greeting": f"key {TOKEN}"})
    assert not greeted.is_error and greeted.content[0].text == "hello, Ada"
    assert asked[0] == "hello: what is your name?"
    assert len(asked) == 2 and TOKEN not in asked[1] and asked[1].endswith(": what is your name?")
    assert not secret.is_error and TOKEN not in secret.content[0].text
    assert not summed.is_error and summed.content[0].text == "m-1 said: short"
    # What the upstream asks the client's model is redacted like anything else it sends.
    assert len(sampled) == 1 and TOKEN not in sampled[0].messages[0].content.text
    events = _events(ws)
    kinds = [e["event"] for e in events]
    assert kinds == [
        "upstream_elicitation",
        "upstream_elicitation_answer",
        "upstream_sampling",
        "upstream_sampling_answer",
        "upstream_elicitation",
        "upstream_elicitation_answer",
    ]
    assert events[0]["relayed"] is True and events[0]["message"] == "hello: what is your name?"
    assert events[1]["action"] == "accept" and events[1]["fields"] == ["name"]
    assert "Ada" not in json.dumps(events)  # what the person typed goes to the upstream, not receipts
    assert events[3]["model"] == "m-1"
    assert TOKEN not in json.dumps([dict(r) for r in receipt_rows(ws / ".tollhouse")])


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_that_cannot_answer_is_not_asked_and_the_refusal_is_receipted(
    ws: Path, mode: str
) -> None:
    """No callbacks (legacy), or a 2026-07-28 session (auto) that cannot be asked mid-call."""
    answered: list[str] = []

    async def on_elicit(ctx: Any, params: Any) -> types.ElicitResult:
        answered.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    kwargs: dict[str, Any] = {"elicitation_callback": on_elicit} if mode == "auto" else {}
    async with Client(_params(ws), mode=mode, **kwargs) as client:
        result = await client.call_tool("rel_greet", {"greeting": "hello"})
        assert result.is_error
    assert answered == []
    events = _events(ws)
    assert [e["event"] for e in events] == ["upstream_elicitation"]
    assert events[0]["relayed"] is False
    why = "did not declare elicitation" if mode == "legacy" else "where a server cannot ask it anything"
    assert why in events[0]["reason"]


async def test_without_relay_the_upstream_is_not_offered_the_capability(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _config(root, None)
    await trust_upstream(root, "rel", cached=True)
    answered: list[str] = []

    async def on_elicit(ctx: Any, params: Any) -> types.ElicitResult:
        answered.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(_params(root), mode="legacy", elicitation_callback=on_elicit) as client:
        result = await client.call_tool("rel_greet", {"greeting": "hello"})
    assert result.is_error and answered == [] and _events(root) == []


@pytest.mark.parametrize("relay", ['["voice"]', '"elicitation"', "[1]"])
async def test_a_bad_relay_setting_is_a_config_error(tmp_path: Path, relay: str) -> None:
    from tollhouse.config import ConfigError, load_config

    root = tmp_path / "ws"
    _config(root, relay)
    with pytest.raises(ConfigError, match="relay must be a list of 'elicitation', 'sampling'"):
        load_config(root / "tollhouse.toml")


async def test_audio_from_an_upstream_reaches_the_client_as_audio(ws: Path) -> None:
    from tests.upstreams.relay_server import WAV

    async with Client(_params(ws)) as client:
        result = await client.call_tool("rel_beep", {})
    assert not result.is_error
    (block,) = result.content
    assert isinstance(block, types.AudioContent)
    assert block.mime_type == "audio/wav" and base64.b64decode(block.data) == WAV


class _Relay:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def forward(self, call: Any, upstream: str, kind: str, params: Any) -> Any:
        self.asked.append((call.call_id, kind))
        return types.ElicitResult(action="decline")


def _ctx(call_id: str, relay: Any) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        call=SimpleNamespace(call_id=call_id, client_requests=relay, channel="mcp"), facts={}
    )


async def test_a_request_arriving_on_the_connection_goes_to_the_one_call_in_flight_else_is_refused() -> None:
    """Handshake-era upstreams send their requests on the connection, outside any call's task:
    with one call in flight it is that call's; with none or several there is no telling whose."""
    from tollhouse.upstreams.spec import UpstreamSpec
    from tollhouse.upstreams.supervisor import Upstream

    upstream = Upstream(UpstreamSpec(name="rel", command=("x",), relay=("elicitation",)), None, None)
    params = types.ElicitRequestFormParams(message="name?", requested_schema={"type": "object"})
    relay = _Relay()
    none = await upstream._relay("elicitation", params)
    assert isinstance(none, types.ErrorData) and "no call in progress" in none.message
    upstream._calls["c1"] = _ctx("c1", relay)
    one = await upstream._relay("elicitation", params)
    assert isinstance(one, types.ElicitResult) and relay.asked == [("c1", "elicitation")]
    assert upstream._calls["c1"].facts["client_requests"] == [{"request": "elicitation", "relayed": True}]
    upstream._calls["c2"] = _ctx("c2", relay)
    two = await upstream._relay("elicitation", params)
    assert isinstance(two, types.ErrorData) and "several calls are in progress" in two.message
    assert relay.asked == [("c1", "elicitation")]
    del upstream._calls["c1"]
    upstream._calls["c2"] = _ctx("c2", None)  # the CLI, an adapter: no client to ask
    cli = await upstream._relay("elicitation", params)
    assert isinstance(cli, types.ErrorData) and "cannot be asked" in cli.message
    assert upstream._calls["c2"].facts["client_requests"] == [{"request": "elicitation", "relayed": False}]
