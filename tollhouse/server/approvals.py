"""Approvals over MCP: the gate's approver, answered by the person behind the client.

The gate calls ``approver(ApprovalRequest)`` from inside ``gate.call`` when policy says *ask* and no
grant covers the call. How we reach the person depends on the protocol era:

* Handshake era (<= 2025-11-25): the server may send ``elicitation/create`` mid-call, so the approver
  asks and waits, then returns the answer; the gate carries on in the same ``tools/call``.
* 2026-07-28: the server may not send requests at all. A ``tools/call`` must *return* an
  ``input_required`` result and the client retries the call with the answer. So the first round's
  approver records what it would have asked and returns ``None``; the face turns that into an
  ``InputRequiredResult`` whose ``requestState`` names the exact call (tool, argument digest, policy
  hash). The SDK's ``RequestStateBoundary`` seals that state and binds it to the same tool name,
  the same arguments and an expiry, so the answer cannot be replayed onto another call. The second
  round's approver returns the answer only if the gate's new request matches the sealed one.
  Each state also carries a nonce, spent the first time its answer is used (``SpentApprovals``): the
  same approved state re-sent, in turn or at once, runs its call at most once; a replay is refused
  (a ``denied`` outcome with a receipt) and the client must ask again. The sealing key lives only in
  the server process, so a state cannot be taken to another process or past a restart either.

Either way the form holds one boolean. It never asks for a secret: the arguments shown are the
gate's redacted copy, and the schema has no free-text field a client could fill with one.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tollhouse.display import show_text, show_value
from tollhouse.gate.types import ApprovalAnswer, ApprovalRequest

INPUT_KEY = "tollhouse/approval"
STATE_KIND = "tollhouse.approval.v1"

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Approve this call",
            "description": "Run the tool call exactly as shown, once.",
            "default": False,
        }
    },
    "required": ["approve"],
}


def approval_message(req: ApprovalRequest) -> str:
    # Everything the agent chose is shown escaped (show_value/show_text): what is approved is what is seen.
    args = show_value(req.arguments)
    seconds = max(0, math.ceil(req.expires_at - time.time()))  # a 300 s approval says 300, not 299
    rules = show_text(", ".join(req.rules) or "(none)")
    title = f" ({show_text(req.title)})" if req.title and req.title != req.tool else ""
    return (
        f"tollhouse: approve a call to {show_text(req.tool)}{title}?\n\narguments: {args}\n"
        f"rule: {rules}\nwhy: {show_text(req.reason)}\n"
        f"This approval covers this one call only and expires in {seconds} s."
    )


def supports_form_elicitation(capabilities: types.ClientCapabilities | None) -> bool:
    """Form elicitation is declared (a bare ``elicitation: {}`` counts as form, as the spec says)."""
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None:
        return False
    return elicitation.form is not None or elicitation.url is None


def _answer_from(result: Any, approver: str) -> ApprovalAnswer:
    action = getattr(result, "action", None)
    content = getattr(result, "content", None) or {}
    approved = action == "accept" and content.get("approve") is True
    note = (
        "approved"
        if approved
        else f"elicitation {action}" + (" (approve=false)" if action == "accept" else "")
    )
    return ApprovalAnswer(approved=approved, approver=approver, note=note)


def _request_digest(req: ApprovalRequest) -> dict[str, Any]:
    return {"kind": STATE_KIND, "tool": req.tool, "args": req.args_digest, "policy": req.policy_hash}


class SpentApprovals:
    """Nonces of 2026-era approval states already used, kept until their state would expire anyway.

    Checking and spending is one step with no ``await`` in between, so two concurrent replays on the
    event loop cannot both pass."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}

    def spend(self, nonce: str, expires_at: float) -> bool:
        """True the first time ``nonce`` is spent; False ever after (until it expires)."""
        now = time.time()
        if len(self._spent) > 256:
            self._spent = {n: t for n, t in self._spent.items() if t > now}
        if nonce in self._spent:
            return False
        self._spent[nonce] = max(expires_at, now)
        return True


@dataclass
class ElicitationApprover:
    """One call's approver. Built by the face per ``tools/call`` request."""

    ctx: Any
    """The low-level ``ServerRequestContext`` of the tools/call request."""
    client: str
    input_responses: dict[str, Any] | None = None
    request_state: str | None = None
    pending: ApprovalRequest | None = None
    """Set when a 2026 round needs to ask: the face returns an InputRequiredResult."""
    asked: bool = False
    spent: SpentApprovals | None = None
    """The face's record of used approval states; without one a round-trip answer is never used."""

    @property
    def label(self) -> str:
        return f"mcp-elicitation:{self.client}"

    @property
    def modern(self) -> bool:
        return self.ctx.protocol_version in MODERN_PROTOCOL_VERSIONS

    async def __call__(self, req: ApprovalRequest) -> ApprovalAnswer | None:
        if not supports_form_elicitation(self.ctx.session.client_capabilities):
            return None
        if self.modern:
            return self._from_round_trip(req)
        if not self.ctx.session.can_send_request:
            return None  # legacy stateless HTTP: no way to reach the person
        remaining = req.expires_at - time.time()
        if remaining <= 0:
            return None
        self.asked = True
        request = types.ElicitRequest(
            params=types.ElicitRequestFormParams(
                message=approval_message(req), requested_schema=APPROVAL_SCHEMA
            )
        )
        from mcp.shared.message import ServerMessageMetadata

        # The answer only counts before the request expires; a person who walked away does not
        # leave the call hanging forever.
        with anyio.move_on_after(remaining) as scope:
            result = await self.ctx.session.send_request(
                request,
                types.ElicitResult,
                metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id),
            )
        if scope.cancelled_caught:
            return ApprovalAnswer(approved=False, approver=self.label, note="approval expired unanswered")
        return _answer_from(result, self.label)

    def _from_round_trip(self, req: ApprovalRequest) -> ApprovalAnswer | None:
        answer = (self.input_responses or {}).get(INPUT_KEY)
        state = self._state()
        if answer is not None and state is not None:
            expected = _request_digest(req)
            if all(state.get(k) == v for k, v in expected.items()):
                expires_at = float(state.get("expires_at", 0))
                if time.time() >= expires_at:
                    return ApprovalAnswer(approved=False, approver=self.label, note="approval expired")
                nonce = state.get("nonce")
                if (
                    not isinstance(nonce, str)
                    or self.spent is None
                    or not self.spent.spend(nonce, expires_at)
                ):
                    return ApprovalAnswer(
                        approved=False,
                        approver=self.label,
                        note="this approval was already used: an approval runs its call once; "
                        "call again without requestState to be asked again",
                    )
                return _answer_from(answer, self.label)
        # Nothing (valid) to answer with yet: ask in this round's result.
        self.pending = req
        self.asked = True
        return None

    def _state(self) -> dict[str, Any] | None:
        if not self.request_state:
            return None
        try:
            state = json.loads(self.request_state)
        except ValueError:
            return None
        return state if isinstance(state, dict) and state.get("kind") == STATE_KIND else None

    def input_required(self) -> types.InputRequiredResult:
        """The 2026 round trip asking for ``self.pending``; the SDK seals ``request_state``."""
        assert self.pending is not None
        req = self.pending
        state = {**_request_digest(req), "expires_at": req.expires_at, "nonce": uuid.uuid4().hex}
        return types.InputRequiredResult(
            input_requests={
                INPUT_KEY: types.ElicitRequest(
                    params=types.ElicitRequestFormParams(
                        message=approval_message(req), requested_schema=APPROVAL_SCHEMA
                    )
                )
            },
            request_state=json.dumps(state, sort_keys=True),
        )
