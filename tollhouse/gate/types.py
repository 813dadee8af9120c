"""The gate's public types: a ``Call`` comes in from a face, an ``Outcome`` goes back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Channel = Literal["mcp-stdio", "mcp-http", "openai", "anthropic", "gemini", "cli", "api"]
Effect = Literal["allow", "ask", "deny"]
Status = Literal["ok", "error", "denied", "needs_approval", "timeout", "cancelled"]

STATUSES: tuple[Status, ...] = ("ok", "error", "denied", "needs_approval", "timeout", "cancelled")


def new_call_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Decision:
    """What policy decided, and which rules decided it (``workspace.immutable`` or ``default-deny``
    stand in for built-in reasons)."""

    effect: Effect
    rules: tuple[str, ...]
    reason: str
    policy_hash: str


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approver is shown. ``arguments`` are already redacted."""

    call_id: str
    tool: str
    title: str
    arguments: dict[str, Any]
    rules: tuple[str, ...]
    reason: str
    args_digest: str
    policy_hash: str
    expires_at: float
    """Unix time after which an answer no longer counts."""

    def summary(self) -> str:
        import json

        args = json.dumps(self.arguments, ensure_ascii=False, sort_keys=True)
        return f"{self.tool} {args}  (rule {', '.join(self.rules)}: {self.reason})"


@dataclass(frozen=True)
class ApprovalAnswer:
    approved: bool
    approver: str
    """Who answered: ``mcp-elicitation:<client>``, ``terminal:<user>``, ``grant:<id>``."""
    note: str = ""


class Approver(Protocol):
    """A face's way to ask a person. Returns None when it cannot ask (no capable client)."""

    async def __call__(self, request: ApprovalRequest) -> ApprovalAnswer | None: ...


ProgressCallback = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass
class Call:
    """One tool call as a face hands it to the gate."""

    tool: str
    arguments: dict[str, Any] | Any
    channel: Channel = "api"
    client: str | None = None
    """Client name and version, ``claude-desktop/1.2``."""
    session: str | None = None
    case: str | None = None
    operator: str | None = None
    """Who asked; the gate fills in the configured operator when a face has none."""
    groups: tuple[str, ...] = ()
    """The operator's groups (from an access token or ``tollhouse login``): policy ``principals``
    match them as ``group:<name>`` and receipts record them."""
    read_only: bool = False
    """The caller may run read-only tools only (an access token whose scopes grant reading only);
    any other tool is refused by name, like a tool ``serve --read-only`` does not serve."""
    approver: Approver | None = None
    progress: ProgressCallback | None = None
    client_requests: Any = None
    """How a tool's upstream may ask this call's client something (elicitation, sampling): a face's
    ``ClientRelay`` (``server/client_relay.py``), or None when the face has no client to ask."""
    client_roots: tuple[str, ...] | None = None
    """Roots the client announced (absolute paths); they may only narrow the operator's roots."""
    result_budget: int | None = None
    """The most JSON the face can deliver for this call's result (HTTP: one server-sent event), or
    None for no limit beyond ``limits.max_result_bytes``; tools that size their output keep within it."""
    call_id: str = field(default_factory=new_call_id)
    credentials_used: list[str] = field(default_factory=list)
    provider_ids: dict[str, str] | None = None
    """What a model provider called this call: its call id, the response it came in, the model
    (``tollhouse run`` and the adapters' dispatch); recorded under ``details.provider``."""


@dataclass
class Outcome:
    """What came of a call. ``result`` and ``message`` are redacted."""

    call_id: str
    tool: str
    status: Status
    result: Any = None
    message: str | None = None
    decision: Decision | None = None
    approver: str | None = None
    receipts: list[int] = field(default_factory=list)
    """Sequence numbers of the receipts this call wrote."""
    duration_us: int = 0
    failed: str | None = None
    """With status ``ok``: the tool ran but what it ran failed (``exit``, ``signal``, ``timeout``)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "tool": self.tool,
            "status": self.status,
            "result": self.result,
            "message": self.message,
            "decision": None
            if self.decision is None
            else {
                "effect": self.decision.effect,
                "rules": list(self.decision.rules),
                "reason": self.decision.reason,
                "policy_hash": self.decision.policy_hash,
            },
            "approver": self.approver,
            "receipts": self.receipts,
            "duration_us": self.duration_us,
            "failed": self.failed,
        }
