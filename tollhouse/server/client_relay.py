"""Requests an upstream makes of the client during a call (elicitation, sampling), passed on to the
MCP session of that call, each one receipted.

An upstream may only ask what its ``relay`` setting lists (tollhouse otherwise does not declare the
capability to it). What it asks is redacted before the client sees it, like its results, and two
event receipts bracket the exchange: ``upstream_<kind>`` is durable before the request is sent,
``upstream_<kind>_answer`` records how it was answered (the action, or the model that sampled; never
what the person typed). A client that cannot answer gets no request: the upstream receives a JSON-RPC
error saying why, and the receipt says ``relayed: false``.

Only handshake-era sessions (protocol <= 2025-11-25) can be asked in the middle of a call. A
2026-07-28 session can only be asked by returning ``input_required`` from the call, which would
restart the upstream's call from the client's retry; that is not relayed (refused, saying so).
"""

from __future__ import annotations

import logging
from typing import Any

import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tollhouse.server.approvals import supports_form_elicitation

log = logging.getLogger(__name__)

KINDS = ("elicitation", "sampling")


class ClientRelay:
    """Built by the MCP face for each ``tools/call``; the upstream supervisor calls ``forward``."""

    def __init__(self, ctx: Any, gate: Any) -> None:
        self.ctx = ctx
        """The low-level ``ServerRequestContext`` of the tools/call request."""
        self.gate = gate

    def refusal(self, kind: str, params: Any) -> str | None:
        """Why this client cannot be asked, or None when it can."""
        caps = self.ctx.session.client_capabilities
        if kind == "elicitation":
            url_mode = getattr(params, "mode", "form") == "url"
            declared = caps is not None and caps.elicitation is not None
            if url_mode and not (declared and caps.elicitation.url is not None):
                return "the client did not declare URL elicitation"
            if not url_mode and not supports_form_elicitation(caps):
                return "the client did not declare elicitation"
        elif caps is None or caps.sampling is None:
            return "the client did not declare sampling"
        if self.ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return (
                f"the client speaks {self.ctx.protocol_version}, where a server cannot ask it anything "
                "in the middle of a call; tollhouse relays requests to handshake-era clients only"
            )
        if not self.ctx.session.can_send_request:
            return "the client's connection cannot carry a request from the server"
        return None

    async def forward(self, call: Any, upstream: str, kind: str, params: Any) -> Any:
        """Ask the client on the upstream's behalf; the client's result, or ``ErrorData``."""
        redactor = self.gate.services.redactor
        params = _redacted(kind, params, redactor)
        details: dict[str, Any] = {"upstream": upstream, **_summary(kind, params)}
        why = self.refusal(kind, params)
        if why is not None:
            await self.gate.record_event(
                call, f"upstream_{kind}", {**details, "relayed": False, "reason": why}
            )
            return types.ErrorData(
                code=types.INVALID_REQUEST, message=f"tollhouse did not relay {kind}: {why}"
            )
        # Durable before the client is asked: the receipt exists even if the answer never comes.
        await self.gate.record_event(call, f"upstream_{kind}", {**details, "relayed": True})
        from mcp.shared.message import ServerMessageMetadata

        if kind == "elicitation":
            request: Any = types.ElicitRequest(params=params)
            result_type: Any = types.ElicitResult
        else:
            request = types.CreateMessageRequest(params=params)
            result_type = types.CreateMessageResult
        try:
            result = await self.ctx.session.send_request(
                request, result_type, metadata=ServerMessageMetadata(related_request_id=self.ctx.request_id)
            )
        except Exception as exc:
            message = redactor.redact_text(str(getattr(getattr(exc, "error", None), "message", "") or exc))
            await self.gate.record_event(
                call, f"upstream_{kind}_answer", {"upstream": upstream, "error": message}
            )
            return types.ErrorData(code=types.INTERNAL_ERROR, message=f"the client did not answer: {message}")
        await self.gate.record_event(
            call, f"upstream_{kind}_answer", {"upstream": upstream, **_answer(result)}
        )
        return result


def _redacted(kind: str, params: Any, redactor: Any) -> Any:
    """The upstream's words, with any secret hidden, as every other text it sends the client."""
    if kind == "elicitation":
        return params.model_copy(update={"message": redactor.redact_text(params.message)})
    messages = []
    for message in params.messages:
        blocks = message.content if isinstance(message.content, list) else [message.content]
        fixed = [
            b.model_copy(update={"text": redactor.redact_text(b.text)})
            if isinstance(b, types.TextContent)
            else b
            for b in blocks
        ]
        messages.append(
            message.model_copy(update={"content": fixed if isinstance(message.content, list) else fixed[0]})
        )
    update: dict[str, Any] = {"messages": messages}
    if params.system_prompt:
        update["system_prompt"] = redactor.redact_text(params.system_prompt)
    return params.model_copy(update=update)


def _summary(kind: str, params: Any) -> dict[str, Any]:
    if kind == "elicitation":
        return {"message": params.message, "mode": getattr(params, "mode", "form") or "form"}
    return {"messages": len(params.messages), "max_tokens": params.max_tokens}


def _answer(result: Any) -> dict[str, Any]:
    if isinstance(result, types.ElicitResult):
        return {"action": result.action, "fields": sorted(result.content or {})}
    return {"model": getattr(result, "model", None), "stop_reason": getattr(result, "stop_reason", None)}
