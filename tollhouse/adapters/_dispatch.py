"""What every provider's dispatch shares: un-lowering, running calls through the gate concurrently,
and turning an Outcome into text a model can read.

Arguments go to ``Gate.call`` as the provider sent them (after the reverse mapping), never
pre-validated here: the gate validates against the master schema and writes the receipt, including
for arguments that are not JSON at all (the raw text is passed so the gate records a validation error).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio

from tollhouse.adapters.schema import LoweredSchema, Target, lower
from tollhouse.adapters.spec import specs_of
from tollhouse.gate.types import Call, Channel, Outcome


@dataclass
class PendingCall:
    """One tool call taken from a provider response."""

    call_id: str | None
    name: str
    arguments: Any
    """A dict (or other JSON value) when the provider sent valid JSON, else the raw text."""


def parse_arguments(raw: Any) -> Any:
    """OpenAI sends arguments as a JSON string; unparseable text is passed on as-is."""
    if not isinstance(raw, str):
        return raw
    if raw.strip() == "":
        return {}  # OpenAI sends "" for a tool without parameters
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Lowerings:
    """The lowered schema per tool for one target, built from the gate's catalogue once."""

    def __init__(self, gate: Any, target: Target) -> None:
        self._by_name: dict[str, LoweredSchema] = {}
        self.gate = gate
        self.target = target

    def get(self, name: str) -> LoweredSchema | None:
        if not self._by_name:
            for spec in specs_of(self.gate):
                self._by_name[spec.name] = lower(spec.input_schema, self.target)
        return self._by_name.get(name)

    def unlower(self, name: str, arguments: Any) -> Any:
        lowered = self.get(name)
        if lowered is None or not isinstance(arguments, dict):
            return arguments
        return lowered.unlower(arguments)


async def run_calls(
    gate: Any,
    calls: list[PendingCall],
    *,
    channel: Channel,
    target: Target,
    lowerings: Lowerings | None = None,
    **call_fields: Any,
) -> list[Outcome]:
    """Run ``calls`` concurrently through the gate; outcomes come back in call order."""
    lowerings = lowerings or Lowerings(gate, target)
    outcomes: list[Outcome | None] = [None] * len(calls)
    provider = dict(call_fields.pop("provider_ids", None) or {})

    async def one(index: int, pending: PendingCall) -> None:
        arguments = lowerings.unlower(pending.name, pending.arguments)
        # The provider's own call id goes on the receipt; the gate's call id stays its own, unique.
        ids = {**provider, "call_id": str(pending.call_id)} if pending.call_id else provider
        call = Call(
            tool=pending.name, arguments=arguments, channel=channel, provider_ids=ids or None, **call_fields
        )
        outcomes[index] = await gate.call(call)

    async with anyio.create_task_group() as tg:
        for index, pending in enumerate(calls):
            tg.start_soon(one, index, pending)
    return [o for o in outcomes if o is not None]


ERROR_PREFIX = {
    "error": "Error",
    "denied": "Denied by policy",
    "needs_approval": "Needs approval (not run)",
    "timeout": "Timed out",
    "cancelled": "Cancelled",
}


def result_text(outcome: Outcome) -> str:
    """The text a model reads: the result on success, a labelled message otherwise."""
    if outcome.status == "ok":
        if isinstance(outcome.result, str):
            return outcome.result
        return json.dumps(outcome.result, ensure_ascii=False)
    prefix = ERROR_PREFIX.get(outcome.status, outcome.status)
    return f"{prefix}: {outcome.message or 'no details'}"
