"""Anthropic Messages: tools, and ``tool_use`` blocks routed through the gate.

Emit::

    tools = anthropic.tools(gate)

Dispatch (the SDK ``Message`` or its plain-dict JSON)::

    messages.append({"role": "assistant", "content": message.content})
    reply = await anthropic.dispatch(message, gate)   # one user message of tool_result blocks
    if reply is None:                                 # no tool_use: the model has answered
        break
    messages.append(reply)
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from tollhouse.adapters._dispatch import Lowerings, PendingCall, result_text, run_calls
from tollhouse.adapters.schema import LoweredSchema, lower
from tollhouse.adapters.spec import SpecLike, specs_of

CHANNEL = "anthropic"


def lowered(source: Any) -> list[tuple[SpecLike, LoweredSchema]]:
    return [(spec, lower(spec.input_schema, "anthropic")) for spec in specs_of(source)]


def tools(source: Any) -> list[dict[str, Any]]:
    """``tools=`` for ``client.messages.create`` (``anthropic.types.ToolParam``)."""
    from anthropic.types import ToolParam

    adapter = TypeAdapter(ToolParam)
    out = []
    for spec, low in lowered(source):
        tool = {"name": spec.name, "description": spec.description, "input_schema": low.schema}
        adapter.validate_python(tool)
        out.append(tool)
    return out


def tool_uses(message: Any) -> list[PendingCall]:
    """The ``tool_use`` blocks of a Message (SDK object, its JSON, or a content list)."""
    from anthropic.types import Message

    if isinstance(message, dict) and "content" in message and "role" in message and "id" in message:
        message = Message.model_validate(message)
    content = message.content if hasattr(message, "content") else message
    if isinstance(content, dict):
        content = content.get("content", [])
    out = []
    for block in content or []:
        data = block if isinstance(block, dict) else block.model_dump()
        if data.get("type") == "tool_use":
            out.append(PendingCall(data["id"], data["name"], data.get("input")))
    return out


async def dispatch(message: Any, gate: Any, **call_fields: Any) -> dict[str, Any] | None:
    """Run every ``tool_use`` through the gate; return ONE user message holding every
    ``tool_result`` (Anthropic requires them all in the very next message), in call order.

    None when the message has no ``tool_use``: the model answered, and a user message with empty
    content would be an error at the API (and a turn nobody asked for)."""
    calls = tool_uses(message)
    if not calls:
        return None
    lowerings = Lowerings(gate, "anthropic")
    outcomes = await run_calls(
        gate, calls, channel=CHANNEL, target="anthropic", lowerings=lowerings, **call_fields
    )
    blocks = [
        {
            "type": "tool_result",
            "tool_use_id": call.call_id,
            "content": result_text(outcome),
            "is_error": outcome.status != "ok",
        }
        for call, outcome in zip(calls, outcomes, strict=True)
    ]
    return {"role": "user", "content": blocks}
