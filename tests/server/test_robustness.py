"""Hostile or broken clients never crash the server: raw JSON-RPC over a real stdio pipe and HTTP."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.server.conftest import INIT, HttpServer, outcomes, wait_for


class RawStdio:
    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            tollhouse_cmd("--config", str(root / "tollhouse.toml"), "serve"),
            cwd=root,
            env=subprocess_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "server closed stdout; stderr:\n" + (self.proc.stderr.read() if self.proc.stderr else "")
        return json.loads(line)

    def read_id(self, want: int) -> dict[str, Any]:
        while True:
            msg = self.read()
            if msg.get("id") == want:
                return msg

    def handshake(self) -> None:
        self.send(INIT)
        assert self.read_id(1)["result"]["protocolVersion"] == "2025-06-18"
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self) -> int:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit after stdin closed") from None
        finally:
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()


def test_malformed_json_rpc_gets_protocol_errors_and_the_server_lives_on(ws: Path) -> None:
    raw = RawStdio(ws)
    try:
        raw.handshake()
        raw.send("{this is not json")
        err = raw.read()
        assert err["error"]["code"] == -32700 and err["id"] is None  # parse error
        raw.send('{"valid": "json", "but": "not JSON-RPC"}')
        err = raw.read()
        assert err["error"]["code"] == -32600 and err["id"] is None  # invalid request
        raw.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "demo_note_read", "arguments": [1]},
            }
        )
        assert raw.read_id(2)["error"]["code"] == -32602  # arguments must be an object: protocol error
        raw.send({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"})
        assert raw.read_id(3)["error"]["code"] == -32601
        raw.send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"arguments": {}}})
        assert raw.read_id(4)["error"]["code"] == -32602  # no tool name
        raw.send(
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "tools/call",
                "params": {"name": "demo_note_read", "arguments": {"path": ["a", {"b": None}]}},
            }
        )
        bad_type = raw.read_id(5)["result"]
        assert bad_type["isError"] is True and "invalid arguments" in bad_type["content"][0]["text"]
        raw.send(
            {
                "jsonrpc": "2.0",
                "id": 6,
                "method": "tools/call",
                "params": {"name": "demo_noop", "arguments": {}},
            }
        )
        assert raw.read_id(6)["result"]["content"][0]["text"] == "ok"
    finally:
        assert raw.close() == 0
    reads = outcomes(ws, "demo_note_read")
    # Both attempted calls are receipted: arguments that are not an object, and a wrong type.
    assert [r["outcome"] for r in reads] == ["error", "error"]
    assert "not a JSON object" in reads[0]["message"] and "invalid arguments" in reads[1]["message"]


def test_client_disconnecting_mid_call_cancels_and_receipts(ws: Path) -> None:
    raw = RawStdio(ws)
    raw.handshake()
    raw.send(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "demo_wait",
                "arguments": {"seconds": 30, "steps": 30},
                "_meta": {"progressToken": "p1"},
            },
        }
    )
    # demo_wait is read-only: receipts v2 write its one entry at the end, so the first progress
    # notification is what tells that the call is running.
    assert raw.read()["method"] == "notifications/progress"
    started = time.monotonic()
    raw.close()  # the client goes away mid-call
    assert time.monotonic() - started < 10
    final = wait_for(lambda: outcomes(ws, "demo_wait"), 5)
    assert [r["outcome"] for r in final] == ["cancelled"]


def test_http_garbage_bodies_get_errors_not_crashes(http_server: HttpServer) -> None:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {http_server.token}",
    }
    garbage = httpx.post(http_server.url, content=b"{nope", headers=headers, timeout=10)
    assert garbage.status_code == 400
    wrong_type = httpx.post(http_server.url, content=b"[1, 2, 3]", headers=headers, timeout=10)
    assert wrong_type.status_code in (400, 200) and wrong_type.status_code != 500
    huge = httpx.post(http_server.url, content=b"[" + b"1," * 3_000_000 + b"1]", headers=headers, timeout=30)
    assert huge.status_code == 413
    ok = httpx.post(http_server.url, json=INIT, headers=headers, timeout=10)
    assert ok.status_code == 200 and http_server.proc.poll() is None
