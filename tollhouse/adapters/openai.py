"""OpenAI: Chat Completions and Responses function tools, and their tool calls routed through the gate.

Emit::

    tools = openai.chat_tools(gate)               # strict where the schema allows it
    tools = openai.responses_tools(gate)

Dispatch (give it the SDK object or its plain-dict JSON; get back what to send next)::

    messages += [completion.choices[0].message.model_dump(exclude_none=True)]
    messages += await openai.dispatch_chat(completion, gate)       # role: tool messages
    items = await openai.dispatch_responses(response, gate)         # function_call_output items
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from tollhouse.adapters._dispatch import Lowerings, PendingCall, parse_arguments, result_text, run_calls
from tollhouse.adapters.schema import LoweredSchema, lower
from tollhouse.adapters.spec import SpecLike, specs_of

CHANNEL = "openai"


def lowered(source: Any, strict: bool = True) -> list[tuple[SpecLike, LoweredSchema]]:
    """Each tool with its lowered schema; ``LoweredSchema.notes`` says why a tool is not strict."""
    target = "openai-strict" if strict else "openai"
    return [(spec, lower(spec.input_schema, target)) for spec in specs_of(source)]


def _function(spec: SpecLike, low: LoweredSchema) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": low.schema,
        "strict": low.strict,
    }


def chat_tools(source: Any, strict: bool = True) -> list[dict[str, Any]]:
    """``tools=`` for ``client.chat.completions.create`` (``ChatCompletionFunctionToolParam``)."""
    from openai.types.chat import ChatCompletionFunctionToolParam

    adapter = TypeAdapter(ChatCompletionFunctionToolParam)
    out = []
    for spec, low in lowered(source, strict):
        tool = {"type": "function", "function": _function(spec, low)}
        adapter.validate_python(tool)  # the SDK's own type: a wrong shape fails here, not at the API
        out.append(tool)
    return out


def responses_tools(source: Any, strict: bool = True) -> list[dict[str, Any]]:
    """``tools=`` for ``client.responses.create`` (``FunctionToolParam``)."""
    from openai.types.responses import FunctionToolParam

    adapter = TypeAdapter(FunctionToolParam)
    out = []
    for spec, low in lowered(source, strict):
        tool = {"type": "function", **_function(spec, low)}
        adapter.validate_python(tool)
        out.append(tool)
    return out


def _chat_message(response: Any) -> Any:
    from openai.types.chat import ChatCompletion, ChatCompletionMessage

    if isinstance(response, dict):
        if "choices" in response:
            response = ChatCompletion.model_validate(response)
        else:
            response = ChatCompletionMessage.model_validate(response)
    if isinstance(response, ChatCompletion):
        return response.choices[0].message
    return response


def chat_calls(response: Any) -> list[PendingCall]:
    """The function tool calls in a ChatCompletion / ChatCompletionMessage (or their JSON)."""
    message = _chat_message(response)
    return [
        PendingCall(tc.id, tc.function.name, parse_arguments(tc.function.arguments))
        for tc in message.tool_calls or []
        if getattr(tc, "type", "function") == "function"
    ]


async def dispatch_chat(response: Any, gate: Any, *, strict: bool = True, **call_fields: Any) -> list[dict]:
    """Run every tool call of a chat completion through the gate; return the ``role: tool`` messages.

    ``strict`` must match what ``chat_tools`` was given (it decides how nulls are read back).
    ``call_fields`` go to ``Call`` (client, session, case, approver).
    """
    calls = chat_calls(response)
    outcomes = await _run(gate, calls, strict, call_fields)
    return [
        {"role": "tool", "tool_call_id": call.call_id, "content": result_text(outcome)}
        for call, outcome in zip(calls, outcomes, strict=True)
    ]


async def _run(gate: Any, calls: list[PendingCall], strict: bool, call_fields: dict[str, Any]) -> list[Any]:
    """The calls through the gate, their arguments read back the way ``strict`` schemas wrote them."""
    lowerings = Lowerings(gate, "openai-strict" if strict else "openai")
    return await run_calls(
        gate, calls, channel=CHANNEL, target=lowerings.target, lowerings=lowerings, **call_fields
    )


def responses_calls(response: Any) -> list[PendingCall]:
    """The ``function_call`` items of a Response (or its JSON, or a list of output items)."""
    items = response
    if isinstance(response, dict):
        items = response.get("output", [])
    elif hasattr(response, "output"):
        items = response.output
    out = []
    for item in items or []:
        data = item if isinstance(item, dict) else item.model_dump()
        if data.get("type") == "function_call":
            out.append(PendingCall(data["call_id"], data["name"], parse_arguments(data.get("arguments"))))
    return out


async def dispatch_responses(
    response: Any, gate: Any, *, strict: bool = True, **call_fields: Any
) -> list[dict]:
    """Run every ``function_call`` item through the gate; return ``function_call_output`` items."""
    calls = responses_calls(response)
    outcomes = await _run(gate, calls, strict, call_fields)
    return [
        {"type": "function_call_output", "call_id": call.call_id, "output": result_text(outcome)}
        for call, outcome in zip(calls, outcomes, strict=True)
    ]
