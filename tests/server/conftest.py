"""Fixtures for the MCP face: a real workspace, `tollhouse serve` as a real subprocess, receipts read
back from the real SQLite file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, http_token_file, receipt_rows, subprocess_env, tollhouse_cmd, write_config

SECRET = "sk-live-4f9b2c7d8e1a0b3c5d6e7f8091a2b3c4"

CONFIG = """\
[tools]
families = []
modules = ["tollhouse.server.demo_tools"]

[limits]
max_argument_bytes = 4096

[redaction]
patterns = ["sk-live-[0-9a-f]{32}"]

[approvals]
ttl_s = 60

[[rules]]
id = "notes-read"
tools = ["demo_note_read"]
effect = "allow"
paths = ["notes/**"]

[[rules]]
id = "notes-write-asks"
tools = ["demo_note_write"]
effect = "ask"
paths = ["notes/**"]

[[rules]]
id = "no-secrets"
tools = ["demo_*"]
effect = "deny"
paths = ["secrets/**"]

[[rules]]
id = "wait-and-noop"
tools = ["demo_wait", "demo_noop"]
effect = "allow"
"""

# A hand-written initialize request, for tests that speak raw JSON-RPC to the server.
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


def make_workspace(root: Path, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_config(root, CONFIG + extra)
    (root / "notes").mkdir(exist_ok=True)
    (root / "notes" / "welcome.txt").write_text("welcome\n", encoding="utf-8")
    (root / "secrets").mkdir(exist_ok=True)
    (root / "secrets" / "key.txt").write_text(SECRET + "\n", encoding="utf-8")
    return root


@pytest.fixture
def ws(workspace: Path) -> Path:
    return make_workspace(workspace)


def stdio_params(root: Path) -> Any:
    from mcp import StdioServerParameters

    env = subprocess_env(TOLLHOUSE_CONFIG=str(root / "tollhouse.toml"))
    keep = {
        k: env[k] for k in ("PYTHONPATH", "TOLLHOUSE_CONFIG", "TOLLHOUSE_HOME", "PATH", "HOME") if k in env
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


def receipts(root: Path) -> list[dict[str, Any]]:
    rows = receipt_rows(root / ".tollhouse")
    for row in rows:
        for key in ("details", "arguments", "rules"):
            if isinstance(row.get(key), str):
                row[key] = json.loads(row[key])
    return rows


def outcomes(root: Path, tool: str) -> list[dict[str, Any]]:
    return [r for r in receipts(root) if r["kind"] == "outcome" and r["tool"] == tool]


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class HttpServer:
    def __init__(self, proc: subprocess.Popen[str], url: str, token: str, stderr: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.token = token
        self.stderr = stderr


def start_http(root: Path, *extra: str) -> HttpServer:
    proc = subprocess.Popen(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "serve", "--http", "127.0.0.1:0", *extra),
        cwd=root,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"serving MCP over HTTP at (\S+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        proc.wait()
        raise AssertionError("server did not start:\n" + "".join(lines) + (proc.stderr.read() or ""))
    token_file = http_token_file(root)
    token = token_file.read_text().strip() if token_file.exists() else ""
    return HttpServer(proc, url, token, lines)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture
def http_server(ws: Path) -> Iterator[HttpServer]:
    server = start_http(ws)
    try:
        yield server
    finally:
        stop(server.proc)


__all__ = ["REPO", "SECRET", "os"]


async def await_for(predicate: Any, timeout: float = 10.0) -> Any:
    """`wait_for` for async tests: polls without blocking the event loop the client runs on."""
    import anyio

    with anyio.move_on_after(timeout):
        while not (value := predicate()):
            await anyio.sleep(0.05)
        return value
    return predicate()
