"""Running the MCP face over stdio or Streamable HTTP, with the gate open for the server's lifetime."""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING, Any

from tollhouse.config import Config

if TYPE_CHECKING:
    from tollhouse.server.http_auth import HttpSettings


def _say(message: str) -> None:
    # stderr only: on stdio, stdout is the wire.
    print(f"tollhouse: {message}", file=sys.stderr, flush=True)


def _protocol_error(exc: Exception, oversized: int | None = None) -> Any:
    """The JSON-RPC error for a line that did not parse (id null, as JSON-RPC 2.0 says)."""
    import mcp_types as types
    from mcp.shared.message import SessionMessage
    from pydantic import ValidationError

    not_json = isinstance(exc, ValidationError) and any(e.get("type") == "json_invalid" for e in exc.errors())
    code, text = (
        (types.PARSE_ERROR, "Parse error") if not_json else (types.INVALID_REQUEST, "Invalid request")
    )
    message = f"{text}: not a JSON-RPC 2.0 message"
    if oversized is not None:
        code = types.INVALID_REQUEST
        message = f"Invalid request: a message over {oversized} bytes was dropped unread (the stdio limit)"
    error = types.ErrorData(code=code, message=message)
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=error))


async def _close_cases(face: Any, gate: Any) -> None:
    """At shutdown, cases this server's sessions worked on since their last handoff get an automatic
    `interrupted` handoff listing those calls' receipts (other servers' sessions are left alone)."""
    import anyio

    with anyio.CancelScope(shield=True):
        try:
            await face.case_notifier.write_interrupted(gate.services.state, gate.services.receipts.source)
        except Exception as exc:  # shutting down: report it, never mask the real exit
            _say(f"could not write interrupted handoffs: {exc}")


async def serve_stdio(config: Config, publish: Any = None) -> None:
    from tollhouse.gate import Gate
    from tollhouse.server.face import McpFace
    from tollhouse.server.stdio_loop import message_limit, stdio_streams

    gate = await Gate.open(config)
    async with gate:
        face = McpFace(gate, "mcp-stdio", publish=publish)
        limit = message_limit(config.limits.max_argument_bytes)
        async with stdio_streams(limit) as (wire_in, write_stream, oversized):
            # The SDK drops a line it cannot parse without a word; answer it with the protocol's
            # error instead, so a broken client learns what happened, and carry on.
            screened = ScreenedStream(wire_in, write_stream, oversized)
            watch = _watch(gate, "mcp-stdio")
            try:
                await face.server.run(screened, write_stream, face.server.create_initialization_options())
            finally:
                watch.stop()
                await _close_cases(face, gate)


def _watch(gate: Any, channel: str) -> Any:
    """Keep the trusted policy in force, report an untrusted change, reload a trusted one."""
    from tollhouse.server.policy_watch import PolicyWatch

    watch = PolicyWatch(gate, _say, channel=channel)
    watch.start()
    return watch


class ScreenedStream:
    """The stdio read stream with unparsable lines answered (JSON-RPC error) and skipped.

    A wrapper, not a relay task: every message would otherwise cross one more memory stream and one
    more task switch on its way in. It also passes on the sender's context (``last_context``), which
    the SDK's dispatcher reads from the stream it is given.
    """

    def __init__(self, inner: Any, write_stream: Any, oversized: Any = None) -> None:
        self._inner = inner
        self._write = write_stream
        self._oversized = oversized

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item
            too_big = self._oversized.take() if self._oversized is not None else None
            await self._write.send(_protocol_error(item, too_big))

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> ScreenedStream:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> ScreenedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _transport_security(settings: HttpSettings, port: int) -> Any:
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = list(settings.allowed_hosts)
    origins = list(settings.allowed_origins)
    if settings.loopback:
        # Exact port, not a wildcard: another local service's origin is not ours.
        hosts += [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
        origins += [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _bind(settings: HttpSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP named, not 0: accepted sockets inherit the listener's proto, and asyncio only sets
    # TCP_NODELAY on a transport whose socket says IPPROTO_TCP. Without it Nagle meets delayed ACK
    # and every response on a kept-alive connection stalls ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def serve_http(config: Config, settings: HttpSettings, publish: Any = None) -> None:
    from tollhouse.server import http_app
    from tollhouse.server.http_auth import current_identity, protect
    from tollhouse.server.http_options import load_http_options

    options = load_http_options(config)  # before anything is created: a bad key changes nothing
    sock = _bind(settings)
    port = sock.getsockname()[1]
    settings.port = port

    def guard(app: Any, gate: Any) -> tuple[Any, Any]:
        # The bearer check (static tokens, or OAuth access tokens) wraps the app: see oauth_guard.py.
        return protect(app, config, settings, gate.services.credentials)

    await http_app.serve(
        config,
        settings,
        options,
        sock,
        security=_transport_security(settings, port),
        identity_of=current_identity,
        publish=publish,
        close_cases=_close_cases,
        watch=lambda gate: _watch(gate, "mcp-http"),
        wrap=guard,
    )
