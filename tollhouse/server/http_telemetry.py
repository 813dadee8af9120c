"""Metrics (Prometheus) and traces (OpenTelemetry) of the calls `serve --http` passes to the gate.

Measured at the face, around ``gate.call`` (``InstrumentedGate``), plus the gate's own ``observe``
hook for the policy decision and the tool run. Nothing here decides anything: a failing exporter or
metric never fails a call.

Metrics (``GET /metrics``, text format):

* ``tollhouse_calls_total{tool,outcome}``: calls by tool and outcome (ok, denied, error, ...);
* ``tollhouse_call_seconds{tool}``, ``tollhouse_decision_seconds{tool}``, ``tollhouse_tool_seconds{tool}``:
  histograms of the whole call, the policy decision and the tool run;
* ``tollhouse_receipts_written_total``: receipts this process appended;
* ``tollhouse_approvals_pending``: approvals asked of a person and not answered yet (handshake era;
  a 2026-07-28 approval is a round trip the client holds, so it is counted in
  ``tollhouse_approvals_requested_total`` only);
* ``tollhouse_calls_in_flight``.

A tool name a client made up is counted as ``(unknown)``: labels stay bounded by the registry.

Traces: one span per call (``tollhouse.call <tool>``) with the tool, outcome, call id, decision,
rules and ``tollhouse.receipt.seq`` (the call's last receipt: the one that closes it), a child of the
SDK's request span. Exported over OTLP/HTTP when ``[http] otlp_endpoint`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; otherwise no tracer is installed and spans cost nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("tollhouse.server")

UNKNOWN = "(unknown)"
# Calls are milliseconds; an approval can take minutes.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600)


class Telemetry:
    def __init__(self, *, metrics: bool = True, tracer_provider: Any = None) -> None:
        self.registry = None
        self.tracer = tracer_provider.get_tracer("tollhouse") if tracer_provider is not None else None
        self.provider = tracer_provider
        self.tools: frozenset[str] = frozenset()
        if not metrics:
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        reg = self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "tollhouse_calls", "Calls by tool and outcome", ["tool", "outcome"], registry=reg
        )
        self.call_seconds = Histogram(
            "tollhouse_call_seconds", "Whole call through the gate", ["tool"], buckets=BUCKETS, registry=reg
        )
        self.decision_seconds = Histogram(
            "tollhouse_decision_seconds", "Policy decision", ["tool"], buckets=BUCKETS, registry=reg
        )
        self.tool_seconds = Histogram(
            "tollhouse_tool_seconds", "Tool run", ["tool"], buckets=BUCKETS, registry=reg
        )
        self.receipts = Counter("tollhouse_receipts_written", "Receipts this process appended", registry=reg)
        self.pending = Gauge("tollhouse_approvals_pending", "Approvals awaiting a person", registry=reg)
        self.requested = Counter("tollhouse_approvals_requested", "Approvals asked for", registry=reg)
        self.in_flight = Gauge("tollhouse_calls_in_flight", "Calls in the gate now", registry=reg)

    def label(self, tool: Any) -> str:
        return tool if isinstance(tool, str) and tool in self.tools else UNKNOWN

    def observe(self, stage: str, tool: str, ns: int) -> None:
        """The gate's ``observe`` hook."""
        if self.registry is None:
            return
        histogram = self.decision_seconds if stage == "decision" else self.tool_seconds
        histogram.labels(self.label(tool)).observe(ns / 1e9)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry) if self.registry is not None else b""

    def shutdown(self) -> None:
        if self.provider is not None:
            try:
                self.provider.shutdown()  # flushes the batch of spans not exported yet
            except Exception as exc:  # an exporter that cannot reach its collector must not block exit
                log.warning("trace export at shutdown failed: %s", exc)


class _CountingApprover:
    """Wraps a call's approver: a person being asked is a pending approval until they answer."""

    def __init__(self, inner: Any, telemetry: Telemetry) -> None:
        self.inner = inner
        self.t = telemetry

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __call__(self, request: Any) -> Any:
        t = self.t
        if t.registry is not None:
            t.requested.inc()
            t.pending.inc()
        try:
            return await self.inner(request)
        finally:
            if t.registry is not None:
                t.pending.dec()


class InstrumentedGate:
    """The gate as the face sees it, with each call counted, timed and traced."""

    def __init__(self, gate: Any, telemetry: Telemetry) -> None:
        self._gate = gate
        self._t = telemetry
        telemetry.tools = frozenset(gate.registry.names())
        gate.observe = telemetry.observe

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gate, name)

    async def call(self, call: Any) -> Any:
        t = self._t
        if call.approver is not None and t.registry is not None:
            call.approver = _CountingApprover(call.approver, t)
        label = t.label(call.tool)
        span_cm = (
            t.tracer.start_as_current_span(f"tollhouse.call {label}", record_exception=False)
            if t.tracer is not None
            else None
        )
        span = span_cm.__enter__() if span_cm is not None else None
        started = time.perf_counter()
        if t.registry is not None:
            t.in_flight.inc()
        outcome = None
        ended = "cancelled"
        try:
            outcome = await self._gate.call(call)
            return outcome
        except Exception:
            ended = "exception"
            raise
        finally:
            if t.registry is not None:
                t.in_flight.dec()
                if outcome is not None:
                    t.calls.labels(label, outcome.status).inc()
                    t.call_seconds.labels(label).observe(time.perf_counter() - started)
                    t.receipts.inc(len(outcome.receipts))
                else:
                    t.calls.labels(label, ended).inc()
            if span_cm is not None:
                _annotate(span, call, label, outcome, ended)
                span_cm.__exit__(None, None, None)

    async def record_event(self, call: Any, kind: str, details: dict[str, Any]) -> int:
        seq = await self._gate.record_event(call, kind=kind, details=details)
        if self._t.registry is not None:
            self._t.receipts.inc()
        return seq


def _annotate(span: Any, call: Any, label: str, outcome: Any, ended: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("tollhouse.tool", label)
    span.set_attribute("gen_ai.tool.name", label)
    span.set_attribute("tollhouse.call_id", str(call.call_id))
    span.set_attribute("tollhouse.channel", str(call.channel))
    if outcome is None:
        span.set_attribute("tollhouse.outcome", ended)
        span.set_status(Status(StatusCode.ERROR, ended))
        return
    span.set_attribute("tollhouse.outcome", outcome.status)
    if outcome.receipts:
        span.set_attribute("tollhouse.receipt.seq", int(outcome.receipts[-1]))
        span.set_attribute("tollhouse.receipt.seqs", [int(s) for s in outcome.receipts])
    if outcome.decision is not None:
        span.set_attribute("tollhouse.decision", outcome.decision.effect)
        span.set_attribute("tollhouse.rules", list(outcome.decision.rules))
    if outcome.status != "ok":
        span.set_status(Status(StatusCode.ERROR, outcome.status))


def tracer_provider(endpoint: str | None, *, exporter: Any = None) -> Any:
    """An SDK tracer provider exporting over OTLP/HTTP to ``endpoint`` (or to ``exporter``), set as
    the global one so the MCP SDK's request spans are exported too; None when neither is given."""
    if endpoint is None and exporter is None:
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "tollhouse"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=5)))
    trace.set_tracer_provider(provider)
    return provider
