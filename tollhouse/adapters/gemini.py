"""Gemini (google-genai): FunctionDeclarations, and ``function_call`` parts routed through the gate.

Emit::

    config = types.GenerateContentConfig(tools=[gemini.tool(gate)])

Dispatch (a ``GenerateContentResponse``, a ``Content``, or their JSON)::

    contents.append(gemini.model_content(response))          # keeps thought_signature on each part
    reply = await gemini.dispatch(response, gate)            # function_response parts, same ids
    if reply is None:                                         # no function_call: the model answered
        break
    contents.append(reply)
"""

from __future__ import annotations

import json
from typing import Any

from tollhouse.adapters._dispatch import Lowerings, PendingCall, result_text, run_calls
from tollhouse.adapters.schema import LoweredSchema, lower
from tollhouse.adapters.spec import SpecLike, specs_of

CHANNEL = "gemini"


def lowered(source: Any) -> list[tuple[SpecLike, LoweredSchema]]:
    return [(spec, lower(spec.input_schema, "gemini")) for spec in specs_of(source)]


def function_declarations(source: Any) -> list[Any]:
    """``types.FunctionDeclaration`` per tool, parameters as ``parameters_json_schema`` (the SDK's
    ``Schema`` path rejects ``$ref``, integer enums and type lists; see docs/adapters.md)."""
    from google.genai import types

    out = []
    for spec, low in lowered(source):
        fields: dict[str, Any] = {"name": spec.name, "description": spec.description}
        if not low.empty:  # a tool without arguments leaves parameters unset
            fields["parameters_json_schema"] = low.schema
        out.append(types.FunctionDeclaration(**fields))
    return out


def tool(source: Any) -> Any:
    """One ``types.Tool`` holding every declaration."""
    from google.genai import types

    return types.Tool(function_declarations=function_declarations(source))


def _content(response: Any) -> Any:
    from google.genai import types

    if isinstance(response, dict):
        if "candidates" in response:
            response = types.GenerateContentResponse.model_validate(response)
        else:
            response = types.Content.model_validate(response)
    if isinstance(response, types.GenerateContentResponse):
        if not response.candidates or response.candidates[0].content is None:
            return types.Content(role="model", parts=[])
        return response.candidates[0].content
    return response


def model_content(response: Any) -> Any:
    """The model turn to append to ``contents`` as-is: its function_call parts keep their
    ``thought_signature`` (Gemini 3 rejects a history without it)."""
    return _content(response)


def function_calls(response: Any) -> list[PendingCall]:
    content = _content(response)
    return [
        PendingCall(part.function_call.id, part.function_call.name or "", part.function_call.args or {})
        for part in content.parts or []
        if part.function_call is not None
    ]


def _has_dollar_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return any(str(k).startswith("$") or _has_dollar_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_dollar_keys(v) for v in value)
    return False


def _output(result: Any) -> Any:
    # Gemini 3 tries to resolve "$ref"-style keys inside a function_response and fails: send such
    # results as JSON text instead of a structure.
    return json.dumps(result, ensure_ascii=False) if _has_dollar_keys(result) else result


async def dispatch(response: Any, gate: Any, **call_fields: Any) -> Any:
    """Run every ``function_call`` through the gate; return a user ``types.Content`` of
    ``function_response`` parts (``{"output": ...}`` or ``{"error": ...}``), same ids, call order.

    None when the response has no ``function_call``: the model answered, and a Content without parts
    is refused by the API."""
    from google.genai import types

    calls = function_calls(response)
    if not calls:
        return None
    lowerings = Lowerings(gate, "gemini")
    outcomes = await run_calls(
        gate, calls, channel=CHANNEL, target="gemini", lowerings=lowerings, **call_fields
    )
    parts = []
    for call, outcome in zip(calls, outcomes, strict=True):
        body = {"output": _output(outcome.result)} if outcome.ok else {"error": result_text(outcome)}
        parts.append(
            types.Part(
                function_response=types.FunctionResponse(id=call.call_id, name=call.name, response=body)
            )
        )
    return types.Content(role="user", parts=parts)
