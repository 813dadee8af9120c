"""Receipts for model turns: one entry per request a runner sent to a model provider.

A model turn is not a tool call, but it belongs in the same chain as the calls it led to: which
model asked, with which credential profile, at what cost (tokens), after how many retries. The
entry is built like a tool call's (``make_entry``), so the same redactor sees every free field,
and it is appended by the gate's receipt store, never by the runner itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tollhouse.gate.entries import make_entry
from tollhouse.gate.redact import Redactor
from tollhouse.gate.types import Call, Channel

MODEL_KIND = "model"
"""The receipt kind of a model turn (``receipts/schema.py`` KINDS)."""

TurnOutcome = Literal["ok", "error", "cancelled"]


class BudgetSpent(Exception):
    """Raised by the gate when a model turn it has just receipted spent a budget (model tokens,
    estimated cost, wall time of a run): the runner stops the run with a ``blocked`` handoff and runs
    none of that turn's tool calls. The message names the budget; ``seq`` is the turn's receipt."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass
class ModelTurn:
    """What a runner learnt from one model request (after its retries)."""

    provider: str
    """``openai``, ``openai-responses``, ``anthropic`` or ``gemini``."""
    model: str
    channel: Channel
    request_digest: str
    """sha256 of the canonical JSON of the request body the runner built (before the SDK sent it)."""
    outcome: TurnOutcome = "ok"
    latency_us: int = 0
    usage: dict[str, int] | None = None
    """Token counts as the provider reported them: input_tokens, output_tokens, total_tokens."""
    stop_reason: str | None = None
    response_id: str | None = None
    request_id: str | None = None
    """The provider's request id header (``x-request-id``, ``request-id``), when it sent one."""
    retries: list[dict[str, Any]] = field(default_factory=list)
    """One item per failed attempt that was retried: status, wait_s, error."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The calls the model asked for: provider call id and tool name (arguments go in their own
    receipts, through the gate)."""
    text: str | None = None
    """The model's text; only a redacted, capped excerpt is stored."""
    message: str | None = None
    """Why the turn failed or stopped."""
    credential: str | None = None
    """The credential profile id (never its value)."""
    result_digest: str | None = None
    client: str | None = None
    session: str | None = None
    case: str | None = None
    operator: str | None = None

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "request_digest": self.request_digest,
            "latency_ms": self.latency_us // 1000,
            "retries": len(self.retries),
        }
        for name in ("usage", "stop_reason", "response_id", "request_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.retries:
            out["retry_log"] = self.retries
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out


def model_turn_entry(
    turn: ModelTurn,
    *,
    call_id: str,
    operator: str,
    policy_hash: str | None,
    process: str | None,
    redactor: Redactor,
    excerpt: str | None,
) -> dict[str, Any]:
    """The receipt entry of ``turn``; ``excerpt`` arrives redacted and capped (``Gate._excerpt``)."""
    call = Call(
        tool=None,  # type: ignore[arg-type]  # a model turn runs no tool: the column stays empty
        arguments=None,
        channel=turn.channel,
        client=turn.client,
        session=turn.session,
        case=turn.case,
        operator=turn.operator,
        call_id=call_id,
        credentials_used=[turn.credential] if turn.credential else [],
    )
    return make_entry(
        MODEL_KIND,
        call,
        operator=operator,
        policy_hash=policy_hash,
        process=process,
        redactor=redactor,
        outcome=turn.outcome,
        duration_us=turn.latency_us,
        result_digest=turn.result_digest,
        excerpt=excerpt,
        message=turn.message,
        details=turn.details(),
    )
