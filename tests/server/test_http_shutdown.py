"""SIGTERM against a real `serve --http`: in-flight calls finish (or, past the grace, are cancelled
with a receipt), a final checkpoint is signed, exit 0; and the call spans reach a loopback OTLP/HTTP
receiver carrying their receipt seq. Plus the span attributes with an in-process exporter."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import outcomes, receipts
from tests.server.http_procs import HEADERS, MODERN_META, Replica, make_shared_workspace, start_replica


class OtlpReceiver:
    """A loopback OTLP/HTTP traces endpoint that keeps what it is sent, decoded."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[Any] = []
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    try:
        yield r
    finally:
        r.close()


def call_in_thread(r: Replica, name: str, arguments: dict[str, Any], out: list[Any]) -> threading.Thread:
    body = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": MODERN_META},
    }
    headers = {**HEADERS, **r.auth, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}

    def run() -> None:
        try:
            out.append(
                httpx.post(r.url, content=json.dumps(body), headers={**headers, "mcp-name": name}, timeout=30)
            )
        except httpx.HTTPError as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def notes(root: Path) -> list[int]:
    conn = sqlite3.connect(root / ".tollhouse" / "receipts.db")
    try:
        return [row[0] for row in conn.execute("SELECT size FROM notes ORDER BY size")]
    finally:
        conn.close()


def attrs(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        if kind == "array_value":
            out[kv.key] = [x.int_value or x.string_value for x in v.array_value.values]
        else:
            out[kv.key] = getattr(v, kind)
    return out


def test_sigterm_lets_a_call_finish_then_signs_a_final_checkpoint(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    home = tmp_path / "home"
    root = make_shared_workspace(tmp_path / "ws", home, f'\n[http]\notlp_endpoint = "{receiver.url}"\n')
    r = start_replica(root, home)
    out: list[Any] = []
    thread = call_in_thread(r, "demo_wait", {"seconds": 1.5, "steps": 3}, out)
    time.sleep(0.6)  # the call is in the tool (1.5 s) when the server is asked to stop
    r.proc.send_signal(signal.SIGTERM)
    thread.join(30)
    assert r.proc.wait(30) == 0
    stderr = r.proc.stderr.read() if r.proc.stderr else ""
    assert "SIGTERM: no new connections" in stderr
    assert len(out) == 1 and not isinstance(out[0], Exception), out
    assert out[0].status_code == 200 and out[0].json()["result"]["isError"] is False  # finished, answered
    done = outcomes(root, "demo_wait")
    assert [o["outcome"] for o in done] == ["ok"]
    rows = receipts(root)
    assert notes(root)[-1] == len(rows)  # the final checkpoint covers every receipt
    assert f"final checkpoint signed over {len(rows)} receipts" in stderr
    # The call's span reached the OTLP receiver (flushed at shutdown) with its receipt seq.
    spans = [s for s in receiver.spans if s.name == "tollhouse.call demo_wait"]
    assert len(spans) == 1, [s.name for s in receiver.spans]
    a = attrs(spans[0])
    assert a["tollhouse.outcome"] == "ok" and a["tollhouse.tool"] == "demo_wait"
    assert a["tollhouse.receipt.seq"] == done[0]["seq"]
    assert a["tollhouse.call_id"] == done[0]["call_id"]
    assert not any("arguments" in k for k in a)


def test_sigterm_past_the_grace_cancels_the_call_with_a_receipt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = make_shared_workspace(tmp_path / "ws", home, "\n[http]\nshutdown_grace_s = 1\n")
    r = start_replica(root, home)
    out: list[Any] = []
    thread = call_in_thread(r, "demo_wait", {"seconds": 20, "steps": 20}, out)
    time.sleep(0.8)
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(30) == 0
    thread.join(30)
    stderr = r.proc.stderr.read() if r.proc.stderr else ""
    assert [o["outcome"] for o in outcomes(root, "demo_wait")] == ["cancelled"]
    rows = receipts(root)
    assert notes(root)[-1] == len(rows)
    assert "final checkpoint signed" in stderr


def test_span_attributes_with_an_in_process_exporter() -> None:
    import anyio
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tollhouse.gate.types import Decision, Outcome
    from tollhouse.server.http_telemetry import InstrumentedGate, Telemetry, tracer_provider

    class Registry:
        def names(self) -> list[str]:
            return ["files_read"]

    class Gate:
        registry = Registry()
        observe = None

        async def call(self, call: Any) -> Outcome:
            self.observe("decision", call.tool, 1000)
            status = "ok" if call.tool == "files_read" else "error"
            decision = Decision("allow", ("read-docs",), "allowed", "ab" * 32) if status == "ok" else None
            return Outcome(
                call_id=call.call_id, tool=call.tool, status=status, decision=decision, receipts=[7, 8]
            )

    class Call:
        def __init__(self, tool: str) -> None:
            self.tool, self.call_id, self.channel, self.approver = tool, f"c-{tool}", "mcp-http", None

    exporter = InMemorySpanExporter()
    telemetry = Telemetry(metrics=True, tracer_provider=tracer_provider(None, exporter=exporter))
    gate = InstrumentedGate(Gate(), telemetry)

    async def run() -> None:
        await gate.call(Call("files_read"))
        await gate.call(Call("../../etc/passwd"))

    anyio.run(run)
    ok, unknown = exporter.get_finished_spans()
    assert ok.name == "tollhouse.call files_read"
    assert dict(ok.attributes) == {
        "tollhouse.tool": "files_read",
        "gen_ai.tool.name": "files_read",
        "tollhouse.call_id": "c-files_read",
        "tollhouse.channel": "mcp-http",
        "tollhouse.outcome": "ok",
        "tollhouse.receipt.seq": 8,
        "tollhouse.receipt.seqs": (7, 8),
        "tollhouse.decision": "allow",
        "tollhouse.rules": ("read-docs",),
    }
    assert unknown.name == "tollhouse.call (unknown)" and unknown.status.status_code.name == "ERROR"
    exposition = telemetry.exposition().decode()
    assert 'tollhouse_calls_total{outcome="error",tool="(unknown)"} 1.0' in exposition
    assert 'tollhouse_decision_seconds_count{tool="files_read"} 1.0' in exposition
    assert "tollhouse_receipts_written_total 4.0" in exposition
