"""JSON-RPC edges of the handshake-era HTTP transport that the SDK gets wrong, fixed in front of it.

Measured on the installed SDK (mcp 2.3.0), handshake era (no ``Mcp-Protocol-Version`` header or a
2024/2025 one):

* a body that is JSON but not a JSON-RPC message (``{"hello": 1}``, ``5``, ``"x"``, ``null``, a
  ``jsonrpc`` other than ``"2.0"``) gets -32602 with a pydantic dump, and mints a session for it;
* a batch (a JSON array) gets the same, even in a session negotiated at 2025-03-26, the one version
  whose transport requires servers to accept batches (2025-06-18 removed them again).

Here such a body gets -32600 (Invalid Request, as JSON-RPC 2.0 says) with a short reason, and a
batch in a 2025-03-26 session is split into its messages, each handed to the SDK as its own POST of
the same session, their SSE events relayed on one stream. The 2026-07-28 entry already answers both
with -32600 and is passed through untouched, as is every well-formed message.

Installed inside the SDK's body-size limit (so the body is already read and bounded) and after auth
(an unauthenticated request is refused before its body is looked at).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import anyio
from mcp_types import INVALID_REQUEST, jsonrpc_message_adapter
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION
from pydantic import ValidationError

BATCH_VERSION = "2025-03-26"
"""The only protocol version whose Streamable HTTP transport requires accepting JSON-RPC batches."""
MAX_BATCH = 64
MAX_SESSIONS = 10_000

Scope = dict[str, Any]
_REQUEST_KEYS = frozenset({"jsonrpc", "id", "method", "params"})


def _error(message: str, id_: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": INVALID_REQUEST, "message": message}}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def why_not_jsonrpc(value: Any) -> str | None:
    """None for a valid JSON-RPC 2.0 message, else a one-line reason (no validator dump)."""
    if not isinstance(value, dict):
        return f"Invalid Request: the body is a JSON {_kind(value)}, not a JSON-RPC 2.0 message object"
    if value.get("jsonrpc") != "2.0":
        return 'Invalid Request: "jsonrpc" must be "2.0"'
    # The SDK's model would take an object id as a notification with an extra field.
    if "id" in value and (isinstance(value["id"], bool) or not isinstance(value["id"], str | int | None)):
        return "Invalid Request: an id must be a string, a number or null"
    params = value.get("params")
    id_ = value.get("id")
    if (
        isinstance(value.get("method"), str)
        and (params is None or isinstance(params, dict))
        and ("id" not in value or (isinstance(id_, str | int) and not isinstance(id_, bool)))
        and value.keys() <= _REQUEST_KEYS
    ):
        return None  # the everyday request or notification: the SDK validates it once, not twice
    try:
        jsonrpc_message_adapter.validate_python(value, by_name=False)
    except ValidationError:
        return (
            "Invalid Request: not a JSON-RPC 2.0 request (method, id), notification (method) "
            "or response (id with result or error)"
        )
    return None


def _kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


class JsonRpcEdges:
    """ASGI wrapper around the SDK session manager's request handler (POST bodies only)."""

    def __init__(self, inner: Any, security: Any = None) -> None:
        from mcp.server.transport_security import TransportSecurityMiddleware

        self.inner = inner
        self._security = TransportSecurityMiddleware(security)
        self.versions: OrderedDict[str, str] = OrderedDict()
        """Handshake session id -> the protocol version its initialize negotiated."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            return await self.inner(scope, receive, send)
        method = scope.get("method")
        if method == "DELETE":
            sid = _header(scope, b"mcp-session-id")
            if sid:
                self.versions.pop(sid, None)
        pv = _header(scope, b"mcp-protocol-version")
        if method != "POST" or (pv is not None and pv not in HANDSHAKE_PROTOCOL_VERSIONS):
            return await self.inner(scope, receive, send)  # the 2026 entry screens its own bodies
        first = await receive()
        body = first.get("body", b"") if first.get("type") == "http.request" else b""
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        try:
            value = json.loads(body)
        except ValueError:
            return await self.inner(scope, replay, send)  # the SDK answers -32700 itself
        if isinstance(value, list):
            return await self._batch(scope, replay, send, value, pv)
        reason = why_not_jsonrpc(value)
        if reason is not None:
            return await self._refuse(scope, replay, send, reason)
        if value.get("method") == "initialize":
            return await self.inner(scope, replay, self._note_session(value, send))
        return await self.inner(scope, replay, send)

    def _note_session(self, message: dict[str, Any], send: Any) -> Any:
        params = message.get("params")
        asked = params.get("protocolVersion") if isinstance(params, dict) else None
        # The SDK echoes a supported handshake version and counter-offers the latest otherwise.
        version = asked if asked in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION

        async def noting(event: dict[str, Any]) -> None:
            if event.get("type") == "http.response.start":
                for key, value in event.get("headers", []):
                    if key.lower() == b"mcp-session-id":
                        self.versions[value.decode("latin-1")] = version
                        while len(self.versions) > MAX_SESSIONS:
                            self.versions.popitem(last=False)
            await send(event)

        return noting

    async def _refuse(self, scope: Scope, receive: Any, send: Any, reason: str, status: int = 400) -> None:
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        # DNS-rebinding and content-type checks still come first, exactly as for a valid body.
        refused = await self._security.validate_request(Request(scope, receive), is_post=True)
        response = refused or JSONResponse(_error(reason), status_code=status)
        await response(scope, receive, send)

    async def _batch(self, scope: Scope, receive: Any, send: Any, items: list[Any], pv: str | None) -> None:
        sid = _header(scope, b"mcp-session-id")
        # The version the session negotiated, not what a header claims: a 2025-06-18 session does not
        # get batches by sending "Mcp-Protocol-Version: 2025-03-26".
        version = self.versions.get(sid, pv) if sid else pv
        if version != BATCH_VERSION:
            where = f"this request is at {version}" if version else "this request is in no such session"
            return await self._refuse(
                scope,
                receive,
                send,
                f"Invalid Request: JSON-RPC batches are only accepted in a session negotiated at "
                f"{BATCH_VERSION} ({where}); send one message per POST",
            )
        if not items or len(items) > MAX_BATCH:
            return await self._refuse(
                scope, receive, send, f"Invalid Request: a batch holds 1 to {MAX_BATCH} messages"
            )
        for item in items:
            if isinstance(item, dict) and item.get("method") == "initialize":
                return await self._refuse(
                    scope, receive, send, "Invalid Request: initialize must not be part of a batch"
                )
        await self._run_batch(scope, receive, send, items)

    async def _run_batch(self, scope: Scope, receive: Any, send: Any, items: list[Any]) -> None:
        from starlette.requests import Request

        refused = await self._security.validate_request(Request(scope, receive), is_post=True)
        if refused is not None:
            return await refused(scope, receive, send)
        invalid = [
            _error(r, m.get("id") if isinstance(m, dict) else None)
            for m in items
            if (r := why_not_jsonrpc(m)) is not None
        ]
        valid = [m for m in items if why_not_jsonrpc(m) is None]
        relay = _SseRelay(send, _header(scope, b"mcp-session-id"))
        for error in invalid:
            await relay.event(json.dumps(error).encode())
        async with anyio.create_task_group() as tg:
            for message in valid:
                tg.start_soon(self._one, scope, message, relay)
        await relay.finish()

    async def _one(self, scope: Scope, message: dict[str, Any], relay: _SseRelay) -> None:
        body = json.dumps(message).encode()
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sub = {**scope, "headers": headers}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await anyio.sleep_forever()
            return {"type": "http.disconnect"}

        state: dict[str, Any] = {"status": 200, "sse": False, "buffer": b""}

        async def capture(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                state["status"] = event["status"]
                ctype = dict(event.get("headers", [])).get(b"content-type", b"")
                state["sse"] = ctype.startswith(b"text/event-stream")
                return
            if event["type"] != "http.response.body":
                return
            state["buffer"] += event.get("body", b"")
            if state["sse"]:
                # Relay whole events only, so events of different messages never interleave.
                buffer = state["buffer"].replace(b"\r\n", b"\n")
                *done, rest = buffer.split(b"\n\n")
                state["buffer"] = rest
                for chunk in done:
                    if chunk.strip():
                        await relay.raw(chunk + b"\n\n")

        await self.inner(sub, receive, capture)
        leftover = state["buffer"].strip()
        if leftover and not state["sse"]:
            await relay.event(leftover)  # a JSON answer (an error, or a 202's empty body is skipped)


class _SseRelay:
    """One SSE response carrying the events of every message of a batch."""

    def __init__(self, send: Any, session: str | None) -> None:
        self._send = send
        self._session = session
        self._started = False
        self._lock = anyio.Lock()

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache, no-transform")]
            if self._session:
                headers.append((b"mcp-session-id", self._session.encode("latin-1")))
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def raw(self, chunk: bytes) -> None:
        async with self._lock:
            await self._start()
            await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def event(self, data: bytes) -> None:
        await self.raw(b"event: message\ndata: " + data + b"\n\n")

    async def finish(self) -> None:
        async with self._lock:
            if not self._started:
                # Only notifications and responses: nothing to answer, as for one such message.
                await self._send({"type": "http.response.start", "status": 202, "headers": []})
                self._started = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})


def install(session_manager: Any) -> JsonRpcEdges:
    """Put the edges between the SDK's body-size limit and its request handler."""
    limit = session_manager.asgi_app
    edges = JsonRpcEdges(limit.app, session_manager.security_settings)
    limit.app = edges
    return edges
