"""Transport edges of `serve --http`: TCP_NODELAY, JSON-RPC bodies that are not messages, batches by
protocol version, and pagination cursors, each against a real server process."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import receipts
from tests.server.http_procs import (
    HEADERS,
    MODERN_META,
    Replica,
    make_shared_workspace,
    start_replica,
    stop_replica,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, Path]]:
    home = tmp_path_factory.mktemp("home")
    root = make_shared_workspace(tmp_path_factory.mktemp("edges") / "ws", home)
    replica = start_replica(root, home)
    try:
        yield replica, root
    finally:
        stop_replica(replica)


def post(r: Replica, body: Any, headers: dict[str, str] | None = None, raw: bool = False) -> httpx.Response:
    content = body if raw else json.dumps(body)
    return httpx.post(r.url, content=content, headers={**HEADERS, **r.auth, **(headers or {})}, timeout=20)


def init(version: str, id_: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }


def session(r: Replica, version: str) -> dict[str, str]:
    """A handshake session at ``version``; returns the headers its requests carry."""
    resp = post(r, init(version))
    assert resp.status_code == 200
    assert sse_messages(resp.text)[0]["result"]["protocolVersion"] == version
    sid = resp.headers["mcp-session-id"]
    headers = {"mcp-session-id": sid}
    if version >= "2025-06-18":
        headers["mcp-protocol-version"] = version
    ack = post(r, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers)
    assert ack.status_code == 202
    return headers


def sse_messages(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()
    ]


def test_listening_socket_gives_accepted_connections_tcp_nodelay() -> None:
    """The socket `serve --http` listens on, served the way uvicorn serves it (``create_server(sock=)``):
    each accepted connection has TCP_NODELAY, so no response waits ~40 ms for a delayed ACK.
    (A latency threshold would say the same less reliably on a loaded machine; benchmarks/http.py
    measures it.)"""
    from tollhouse.server.http_auth import HttpSettings
    from tollhouse.server.runner import _bind

    async def run() -> int:
        sock = _bind(HttpSettings(port=0))
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                s = transport.get_extra_info("socket")
                seen.set_result(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(run()) != 0


NOT_MESSAGES = [
    {"hello": 1},
    5,
    "tools/list",
    None,
    True,
    {"jsonrpc": "1.0", "id": 2, "method": "tools/list"},
    {"jsonrpc": "2.0"},
    {"jsonrpc": "2.0", "id": {"nested": 1}, "method": "ping"},
    {"jsonrpc": "2.0", "id": 3, "method": 7},
]


@pytest.mark.parametrize("body", NOT_MESSAGES, ids=[json.dumps(b)[:30] for b in NOT_MESSAGES])
def test_json_that_is_not_json_rpc_gets_invalid_request(server: tuple[Replica, Path], body: Any) -> None:
    r, root = server
    before = len(receipts(root))
    for headers in ({}, session(r, "2025-11-25"), session(r, "2025-03-26")):
        resp = post(r, body, headers)
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["code"] == -32600, error
        assert error["message"].startswith("Invalid Request: ")
        assert "validation error" not in error["message"].lower() and "pydantic" not in error["message"]
        assert "mcp-session-id" not in resp.headers  # no session minted for a refused body
    assert len(receipts(root)) == before


def test_unparsable_body_is_still_a_parse_error(server: tuple[Replica, Path]) -> None:
    r, _ = server
    resp = post(r, b"{not json", raw=True)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == -32700


def test_modern_era_bodies_keep_the_sdk_answer(server: tuple[Replica, Path]) -> None:
    r, _ = server
    modern = {"mcp-protocol-version": "2026-07-28"}
    for body in ({"hello": 1}, [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]):
        resp = post(r, body, modern)
        assert resp.status_code == 400
        assert resp.json()["error"] == {
            "code": -32600,
            "message": "Body must be a single JSON-RPC request or notification object",
        }


BATCH = [
    {"jsonrpc": "2.0", "id": 11, "method": "tools/list"},
    {"jsonrpc": "2.0", "id": 12, "method": "ping"},
]


@pytest.mark.parametrize("version", [None, "2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28"])
def test_batches_are_refused_outside_a_2025_03_26_session(server: tuple[Replica, Path], version: str) -> None:
    r, root = server
    before = len(receipts(root))
    if version is None:
        headers = {}
    elif version == "2026-07-28":
        headers = {"mcp-protocol-version": version}
    else:
        headers = session(r, version)
    calls = [*BATCH, {"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": {"name": "demo_noop"}}]
    claims = [headers]
    if "mcp-session-id" in headers:  # a header claiming the batch version does not change the session's
        claims.append({**headers, "mcp-protocol-version": "2025-03-26"})
    for claim in claims:
        resp = post(r, calls, claim)
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["code"] == -32600
        if version != "2026-07-28":
            assert "only accepted in a session negotiated at 2025-03-26" in error["message"]
    assert len(receipts(root)) == before  # the tools/call inside ran nowhere


def test_batch_in_a_2025_03_26_session_answers_each_message(server: tuple[Replica, Path]) -> None:
    r, root = server
    headers = session(r, "2025-03-26")
    before = len([x for x in receipts(root) if x["tool"] == "demo_noop" and x["kind"] == "outcome"])
    calls = [
        *BATCH,
        {
            "jsonrpc": "2.0",
            "id": 13,
            "method": "tools/call",
            "params": {"name": "demo_noop", "arguments": {}},
        },
        {"jsonrpc": "2.0", "id": 14, "method": "no/such"},
        {"jsonrpc": "1.0", "id": 15, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
    ]
    resp = post(r, calls, headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    by_id = {m.get("id"): m for m in sse_messages(resp.text) if "id" in m}
    assert sorted(by_id) == [11, 12, 13, 14, 15]
    assert [t["name"] for t in by_id[11]["result"]["tools"]]
    assert by_id[12]["result"] == {}
    assert by_id[13]["result"]["isError"] is False
    assert by_id[14]["error"]["code"] == -32601
    assert by_id[15]["error"]["code"] == -32600
    after = [x for x in receipts(root) if x["tool"] == "demo_noop" and x["kind"] == "outcome"]
    assert len(after) == before + 1  # the batched call went through the gate like any other


def test_batch_shapes_refused_even_in_a_2025_03_26_session(server: tuple[Replica, Path]) -> None:
    r, _ = server
    headers = session(r, "2025-03-26")
    for body, words in (
        ([], "a batch holds 1 to 64 messages"),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}] * 65, "a batch holds 1 to 64 messages"),
        ([init("2025-03-26", 5), BATCH[1]], "initialize must not be part of a batch"),
    ):
        resp = post(r, body, headers)
        assert resp.status_code == 400
        assert resp.json()["error"] == {"code": -32600, "message": f"Invalid Request: {words}"}
    only_notes = post(r, [{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}], headers)
    assert only_notes.status_code == 202 and only_notes.text == ""


LISTS = ["tools/list", "resources/list", "resources/templates/list", "prompts/list"]


@pytest.mark.parametrize("method", LISTS)
def test_a_cursor_this_server_never_issued_gets_invalid_params(
    server: tuple[Replica, Path], method: str
) -> None:
    r, _ = server
    legacy = session(r, "2025-11-25")
    modern = {"mcp-protocol-version": "2026-07-28", "mcp-method": method}
    for cursor in ("garbage", "", "eyJwYWdlIjogMn0="):
        for headers, meta in ((legacy, {}), (modern, {"_meta": MODERN_META})):
            body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": {"cursor": cursor, **meta}}
            resp = post(r, body, headers)
            text = resp.text
            sse = resp.headers["content-type"].startswith("text/event-stream")
            message = sse_messages(text)[0] if sse else resp.json()
            assert message["error"]["code"] == -32602, (headers, message)
            assert "unknown pagination cursor" in message["error"]["message"]
        ok = post(r, {"jsonrpc": "2.0", "id": 8, "method": method, "params": {"_meta": MODERN_META}}, modern)
        assert ok.status_code == 200 and "result" in ok.json()
