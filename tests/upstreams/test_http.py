"""A Streamable HTTP upstream: reached by url, its headers built from a credential profile."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import receipt_rows
from tests.upstreams.conftest import TINY, call, make_config, open_gate, trust_upstream

pytestmark = pytest.mark.anyio

TOKEN = "httptok-5e4d3c2b1a09f8e7d6c5b4a392817060"


@pytest.fixture(scope="module")
def http_server() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, str(TINY), "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the HTTP upstream did not start listening")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_http_upstream_gets_its_header_from_a_profile_and_the_secret_is_redacted(
    tmp_path, http_server, monkeypatch
) -> None:
    monkeypatch.setenv("HTTP_UPSTREAM_TOKEN", TOKEN)
    root = tmp_path / "ws"
    make_config(
        root,
        f"""
[credentials."tiny:http"]
source = "env:HTTP_UPSTREAM_TOKEN"

[[upstreams]]
name = "web"
url = "http://127.0.0.1:{http_server}/mcp"
headers = {{ Authorization = "Bearer {{tiny:http}}" }}

[[rules]]
id = "web"
tools = ["web_echo", "web_auth_header"]
effect = "allow"
""",
    )
    await trust_upstream(root, "web")
    async with await open_gate(root) as gate:
        echo = await gate.call(call("web_echo", {"text": "over http"}))
        auth = await gate.call(call("web_auth_header", {}))
    assert echo.status == "ok" and echo.result["content"][0]["text"] == "over http"
    text = auth.result["content"][0]["text"]
    assert text.startswith("authorization: Bearer ") and TOKEN not in text  # sent, then redacted
    assert all(TOKEN not in str(row) for row in receipt_rows(root / ".tollhouse"))
