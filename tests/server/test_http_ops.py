"""Operations of `serve --http` against real processes: resuming a broken stream with Last-Event-ID,
/healthz, /readyz (and what makes it fail), /metrics."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import outcomes, receipts
from tests.server.http_procs import (
    HEADERS,
    MODERN_META,
    Replica,
    make_shared_workspace,
    start_replica,
    stop_replica,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, Path, Path]]:
    home = tmp_path_factory.mktemp("home")
    root = make_shared_workspace(tmp_path_factory.mktemp("ops") / "ws", home)
    replica = start_replica(root, home)
    try:
        yield replica, root, home
    finally:
        stop_replica(replica)


def open_session(r: Replica) -> dict[str, str]:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "r", "version": "1"},
        },
    }
    resp = httpx.post(r.url, content=json.dumps(init), headers={**HEADERS, **r.auth}, timeout=20)
    headers = {**HEADERS, **r.auth, "mcp-session-id": resp.headers["mcp-session-id"]}
    headers["mcp-protocol-version"] = "2025-11-25"
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(r.url, content=json.dumps(note), headers=headers, timeout=20).status_code == 202
    return headers


def events(lines: Iterator[str], until_id: int | None, deadline: float) -> list[dict[str, Any]]:
    """SSE events (id and parsed data) read until the response ``until_id`` arrives or the stream ends."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line.startswith("id:"):
            current["id"] = line[3:].strip()
        elif line.startswith("data:"):
            text = line[5:].strip()
            current["data"] = json.loads(text) if text else None
        elif line == "" and current:
            out.append(current)
            current = {}
            data = out[-1].get("data")
            if until_id is not None and isinstance(data, dict) and data.get("id") == until_id:
                break
        if time.monotonic() > deadline:
            break
    return out


def test_a_broken_stream_resumes_from_last_event_id(served: tuple[Replica, Path, Path]) -> None:
    r, root, _ = served
    headers = open_session(r)
    call = {
        "jsonrpc": "2.0",
        "id": 42,
        "method": "tools/call",
        "params": {
            "name": "demo_wait",
            "arguments": {"seconds": 1.0, "steps": 2},
            "_meta": {"progressToken": 7},
        },
    }
    # Read only the priming event, then drop the connection: the call goes on without us.
    with httpx.stream("POST", r.url, content=json.dumps(call), headers=headers, timeout=20) as resp:
        assert resp.status_code == 200
        first: list[str] = []
        for line in resp.iter_lines():
            if line.startswith("id:"):
                first = [line[3:].strip()]
                break
    assert first and re.fullmatch(r"[0-9a-f]{32}", first[0])  # 128 random bits
    resume = {**headers, "Accept": "text/event-stream", "Last-Event-ID": first[0]}
    with httpx.stream("GET", r.url, headers=resume, timeout=20) as resp:
        assert resp.status_code == 200, resp.read()
        got = events(resp.iter_lines(), 42, time.monotonic() + 15)
    datas = [e["data"] for e in got if e.get("data")]
    assert [d["params"]["progress"] for d in datas if d.get("method") == "notifications/progress"] == [1, 2]
    assert datas[-1]["id"] == 42 and datas[-1]["result"]["isError"] is False
    assert all(e.get("id") for e in got)  # each replayed event keeps its id, to resume again from
    assert outcomes(root, "demo_wait")[-1]["outcome"] == "ok"

    # Another session naming that id gets nothing of the first session's stream.
    other = {**open_session(r), "Accept": "text/event-stream", "Last-Event-ID": first[0]}
    with httpx.stream("GET", r.url, headers=other, timeout=20) as resp:
        assert resp.status_code == 200
        leaked = events(resp.iter_lines(), None, time.monotonic() + 3)
    assert not [e for e in leaked if e.get("data")]
    unknown = {**headers, "Accept": "text/event-stream", "Last-Event-ID": "0" * 32}
    with httpx.stream("GET", r.url, headers=unknown, timeout=20) as resp:
        assert resp.status_code == 200  # not 500 as without an event store
        assert not [e for e in events(resp.iter_lines(), None, time.monotonic() + 3) if e.get("data")]


def test_health_and_metrics(served: tuple[Replica, Path, Path]) -> None:
    r, _, _ = served
    assert httpx.get(f"{r.base}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{r.base}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert httpx.get(f"{r.base}/healthz", headers={"Host": "evil.example:80"}, timeout=10).status_code == 421
    modern = {**HEADERS, **r.auth, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}
    for name in ("demo_noop", "demo_noop", "no_such_tool"):
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "_meta": MODERN_META},
        }
        resp = httpx.post(r.url, content=json.dumps(body), headers={**modern, "mcp-name": name}, timeout=20)
        assert resp.status_code == 200
    text = httpx.get(f"{r.base}/metrics", timeout=10).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['tollhouse_calls_total{outcome="ok",tool="demo_noop"}'] >= 2
    assert samples['tollhouse_calls_total{outcome="error",tool="(unknown)"}'] >= 1
    assert samples['tollhouse_decision_seconds_count{tool="demo_noop"}'] >= 2
    assert samples['tollhouse_tool_seconds_count{tool="demo_noop"}'] >= 2
    assert samples["tollhouse_receipts_written_total"] >= 3
    assert samples["tollhouse_approvals_pending"] == 0
    assert not any("no_such_tool" in key for key in samples)  # labels stay bounded


def test_readyz_fails_when_policy_or_store_is_unusable(served: tuple[Replica, Path, Path]) -> None:
    r, root, _ = served
    config = root / "tollhouse.toml"
    text = config.read_text()
    for changed, words in (
        (text + '\n[[rules]]\nid = "sneaky"\ntools = ["demo_*"]\neffect = "allow"\n', "is not trusted"),
        ("[[rules]\nthis is not toml", "is not trusted"),
        (None, "cannot be judged"),  # the file is gone
    ):
        if changed is None:
            config.unlink()
        else:
            config.write_text(changed)
        try:
            ready = httpx.get(f"{r.base}/readyz", timeout=10)
            assert ready.status_code == 503
            assert words in ready.json()["policy"] and "still enforcing" in ready.json()["policy"]
        finally:
            config.write_text(text)
        assert httpx.get(f"{r.base}/readyz", timeout=10).status_code == 200
    before = len(receipts(root))
    db = root / ".tollhouse" / "receipts.db"
    moved = root / ".tollhouse" / "receipts.db.away"
    shutil.move(db, moved)
    try:
        ready = httpx.get(f"{r.base}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["receipts"].startswith("the receipt store cannot be read")
        assert httpx.get(f"{r.base}/healthz", timeout=10).status_code == 200  # alive, not ready
    finally:
        shutil.move(moved, db)
    assert httpx.get(f"{r.base}/readyz", timeout=10).status_code == 200
    assert len(receipts(root)) == before  # the store was only hidden, never damaged
