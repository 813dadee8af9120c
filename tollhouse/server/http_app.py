"""Assembling and running the `serve --http` app around the gate: the SDK's Streamable HTTP app with
the JSON-RPC edges, the event store, shared approval state, health/metrics routes, tracing and
graceful shutdown (each in its own ``http_*`` module). The bearer check is the caller's
(``runner.serve_http`` passes ``http_auth.protect`` as ``wrap``)."""

from __future__ import annotations

import signal
import socket
import sys
from typing import Any

from tollhouse.config import Config
from tollhouse.server.http_auth import HttpSettings
from tollhouse.server.http_options import HttpOptions


def _say(message: str) -> None:
    print(f"tollhouse: {message}", file=sys.stderr, flush=True)


async def serve(
    config: Config,
    settings: HttpSettings,
    options: HttpOptions,
    sock: socket.socket,
    *,
    security: Any,
    identity_of: Any = None,
    publish: Any = None,
    close_cases: Any = None,
    watch: Any = None,
    wrap: Any = None,
) -> None:
    """``wrap(app, gate) -> (app, closer or None)`` (optional) wraps the finished ASGI app with the
    bearer check (``http_auth.protect``); the health routes are inside it, so the guard lets
    ``/healthz``, ``/readyz`` and ``/metrics`` through for probes."""
    import uvicorn

    from tollhouse.gate import Gate
    from tollhouse.server import http_edges, http_events, http_ops
    from tollhouse.server.face import McpFace
    from tollhouse.server.http_replicas import SharedSpentApprovals
    from tollhouse.server.http_shutdown import GracefulServer
    from tollhouse.server.http_telemetry import InstrumentedGate, Telemetry, tracer_provider

    provider = tracer_provider(options.otlp_endpoint)
    telemetry = Telemetry(metrics=options.metrics, tracer_provider=provider)
    gate = await Gate.open(config)
    events = None
    spent = None
    close_auth = None
    async with gate:
        try:
            face = McpFace(
                InstrumentedGate(gate, telemetry),
                "mcp-http",
                identity_of=identity_of,
                max_event_bytes=settings.max_event_bytes or None,
                publish=publish,
                sealing_keys=options.sealing_keys,
            )
            if options.sealing_keys:
                # Replicas share the key, so they must share which approvals were already used.
                spent = face.spent_approvals = SharedSpentApprovals(config.state_dir / "http-approvals.db")
            readiness = http_ops.Readiness(gate, config.path)
            app = face.server.streamable_http_app(
                streamable_http_path="/mcp",
                transport_security=security,
                host=settings.host,
                custom_starlette_routes=http_ops.routes(readiness, telemetry, security),
            )
            manager = face.server.session_manager
            http_edges.install(manager)
            events = http_events.open_log(options.event_store, config.state_dir)
            http_events.install(manager, events)
            if wrap is not None:
                app, close_auth = wrap(app, gate)

            def on_signal(sig: int) -> None:
                readiness.shutting_down = True
                _say(
                    f"{signal.Signals(sig).name}: no new connections; in-flight calls have "
                    f"{options.shutdown_grace_s:g} s to finish before they are cancelled"
                )

            server = GracefulServer(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    lifespan="on",
                    timeout_graceful_shutdown=max(1, round(options.shutdown_grace_s)),
                ),
                on_signal=on_signal,
            )
            running = watch(gate) if watch is not None else None
            keys = "shared key ring" if options.sealing_keys else "a key held by this process only"
            _say(f"approvals sealed with {keys}; event store: {options.event_store}")
            required = {
                "token": " (bearer token required)",
                "oauth": f" (OAuth: {settings.oauth and settings.oauth.issuer})",
            }
            _say(f"serving MCP over HTTP at {settings.url}" + required.get(settings.auth, ""))
            try:
                await server.serve(sockets=[sock])
            finally:
                if running is not None:
                    running.stop()
                if close_auth is not None:
                    await close_auth()
                if close_cases is not None:
                    await close_cases(face, gate)
            if server.signalled is not None:
                size = await gate.services.receipts.checkpoint()
                _say(f"stopped: final checkpoint signed over {size or 0} receipts")
        finally:
            telemetry.shutdown()
            if events is not None:
                events.close()
            if spent is not None:
                spent.close()
