"""Operational routes of `serve --http`: ``/healthz``, ``/readyz``, ``/metrics``.

* ``/healthz`` answers 200 while the process serves (liveness: restart me if this fails).
* ``/readyz`` answers 200 only when a call could be served and receipted right now: the receipt
  store opens and reads, and its writer runs; the policy file on disk reads and is the trusted one
  (after an untrusted edit the server keeps enforcing the last trusted policy but is not ready, so a
  load balancer prefers replicas whose policy is in order and the operator is told); the server is
  not shutting down. 503 otherwise, with the reasons in JSON.
* ``/metrics`` is the Prometheus text format (``http_telemetry``), when ``[http] metrics`` is on.

These routes sit beside ``/mcp``, outside its bearer check (as probes and scrapers expect), and say
nothing a caller could use: no tool names beyond the metric labels, no paths, no policy text.
Only the policy hash prefix and counts are shown.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio

CHECK_TIMEOUT_S = 3.0


class Readiness:
    def __init__(self, gate: Any, config_path: Path | None) -> None:
        self.gate = gate
        self.config_path = config_path
        self.shutting_down = False

    def _receipts(self) -> str | None:
        store = self.gate.services.receipts
        if getattr(store, "_closed", False):
            return "the receipt store is closed"
        writer = getattr(store, "_writer", None)
        if writer is not None and hasattr(writer, "is_alive") and not writer.is_alive():
            return "the receipt writer has stopped"
        db = Path(store.db_path)
        try:
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=CHECK_TIMEOUT_S)
            try:
                conn.execute("SELECT max(seq) FROM receipts").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"the receipt store cannot be read: {exc}"
        return None

    def _policy(self) -> str | None:
        policy = getattr(self.gate, "policy", None)
        if policy is None or not getattr(policy, "sha256", None):
            return "no policy is loaded"
        if self.config_path is None:
            return None
        from tollhouse.config import ConfigError, read_config_text
        from tollhouse.trust import UntrustedPolicy, trust_state

        try:
            state = trust_state(self.config_path, read_config_text(self.config_path))
        except (ConfigError, OSError, UntrustedPolicy) as exc:
            return f"the policy file cannot be judged ({exc}); still enforcing {policy.sha256[:12]}"
        if not state.ok:
            return (
                f"the policy file changed to {state.sha256[:12]}, which is not trusted "
                f"(`tollhouse policy trust`); still enforcing {policy.sha256[:12]}"
            )
        return None

    async def check(self) -> tuple[bool, dict[str, Any]]:
        problems = []
        if self.shutting_down:
            problems.append("shutting down")
        with anyio.move_on_after(CHECK_TIMEOUT_S) as scope:
            receipts = await anyio.to_thread.run_sync(self._receipts)
        if scope.cancelled_caught:
            receipts = f"the receipt store did not answer within {CHECK_TIMEOUT_S:g} s"
        policy = self._policy()
        problems += [p for p in (receipts, policy) if p]
        body = {
            "ready": not problems,
            "receipts": receipts or "ok",
            "policy": policy or f"ok ({self.gate.policy.sha256[:12]})",
        }
        if problems:
            body["problems"] = problems
        return not problems, body


def routes(readiness: Readiness, telemetry: Any, security: Any = None) -> list[Any]:
    from mcp.server.transport_security import TransportSecurityMiddleware
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    # The same Host/Origin allowlist as /mcp: a page on another site cannot read these by DNS rebinding.
    guard = TransportSecurityMiddleware(security)

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Any) -> Any:
            refused = await guard.validate_request(request, is_post=False)
            return refused if refused is not None else await handler(request)

        return endpoint

    async def healthz(request: Any) -> Any:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Any) -> Any:
        ok, body = await readiness.check()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(request: Any) -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)

    out = [
        Route("/healthz", guarded(healthz), methods=["GET"]),
        Route("/readyz", guarded(readyz), methods=["GET"]),
    ]
    if telemetry is not None and telemetry.registry is not None:
        out.append(Route("/metrics", guarded(metrics), methods=["GET"]))
    return out
