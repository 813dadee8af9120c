"""`tollhouse serve --http` on an ephemeral 127.0.0.1 port: auth, DNS-rebinding checks, both eras."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import http_token_file, subprocess_env, tollhouse_cmd
from tests.server.conftest import INIT, HttpServer, outcomes, receipts, start_http, stop

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def client_for(server: HttpServer, token: str | None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return Client(streamable_http_client(server.url, http_client=httpx2.AsyncClient(headers=headers)), **kw)


def test_token_is_generated_0600_and_printed_once(ws: Path, http_server: HttpServer) -> None:
    token_file = http_token_file(ws)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert not (ws / ".tollhouse" / "http-token").exists()  # outside the workspace, out of tools' reach
    printed = "".join(http_server.stderr)
    assert http_server.token and http_server.token in printed
    stop(http_server.proc)
    again = start_http(ws)
    try:
        assert again.token == http_server.token
        assert again.token not in "".join(again.stderr)  # only printed when it was created
    finally:
        stop(again.proc)


def test_requests_without_a_valid_token_get_401(http_server: HttpServer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {http_server.token}"}):
        r = httpx.post(http_server.url, json=INIT, headers={**HEADERS, **headers}, timeout=10)
        assert r.status_code == 401, (headers, r.status_code)
        assert r.headers["www-authenticate"].startswith("Bearer")
    ok = httpx.post(
        http_server.url,
        json=INIT,
        headers={**HEADERS, "Authorization": f"Bearer {http_server.token}"},
        timeout=10,
    )
    assert ok.status_code == 200


def test_dns_rebinding_host_and_origin_are_refused(http_server: HttpServer) -> None:
    auth = {"Authorization": f"Bearer {http_server.token}"}
    evil_host = httpx.post(
        http_server.url, json=INIT, headers={**HEADERS, **auth, "Host": "evil.example:80"}, timeout=10
    )
    assert evil_host.status_code == 421
    evil_origin = httpx.post(
        http_server.url, json=INIT, headers={**HEADERS, **auth, "Origin": "http://evil.example"}, timeout=10
    )
    assert evil_origin.status_code == 403
    other_port = http_server.url.split(":")[2].split("/")[0]
    wrong_port = httpx.post(
        http_server.url,
        json=INIT,
        headers={**HEADERS, **auth, "Origin": f"http://127.0.0.1:{int(other_port) + 1}"},
        timeout=10,
    )
    assert wrong_port.status_code == 403


@pytest.mark.anyio
async def test_client_without_token_cannot_connect(http_server: HttpServer) -> None:
    with pytest.raises(Exception):
        async with client_for(http_server, None) as client:
            await client.list_tools()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_calls_approvals_progress_and_operator_over_http(
    ws: Path, http_server: HttpServer, mode: str
) -> None:
    prompts: list[str] = []

    async def on_elicit(ctx, params):
        prompts.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    seen = []

    async def on_progress(p, total, message):
        seen.append(p)

    async with client_for(
        http_server, http_server.token, mode=mode, elicitation_callback=on_elicit
    ) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "demo_note_write" in names
        ok = await client.call_tool("demo_note_read", {"path": "notes/welcome.txt"})
        assert not ok.is_error and ok.structured_content["text"] == "welcome\n"
        denied = await client.call_tool("demo_note_read", {"path": "secrets/key.txt"})
        assert denied.is_error and "no-secrets" in denied.content[0].text
        asked = await client.call_tool("demo_note_write", {"path": f"notes/{mode}.txt", "text": "over http"})
        assert not asked.is_error, asked.content[0].text
        waited = await client.call_tool(
            "demo_wait", {"seconds": 0.1, "steps": 2}, progress_callback=on_progress
        )
        assert not waited.is_error and seen == [1, 2]
        recent = json.loads((await client.read_resource("tollhouse://receipts/recent")).contents[0].text)
        assert recent["receipts"]
        with pytest.raises(MCPError):
            await client.read_resource("tollhouse://nothing")
    assert len(prompts) == 1 and "demo_note_write" in prompts[0]
    assert (ws / "notes" / f"{mode}.txt").read_text() == "over http"
    rows = [r for r in receipts(ws) if r["kind"] in ("outcome", "event")]
    assert rows and all(r["channel"] == "mcp-http" for r in rows)
    assert all(r["operator"] == "http-token" for r in rows)  # the token's principal
    assert outcomes(ws, "demo_note_write")[-1]["approver"].startswith("mcp-elicitation:")


@pytest.mark.anyio
async def test_configured_token_principal_is_the_operator(workspace: Path) -> None:
    import hashlib

    from tests.server.conftest import make_workspace

    alice = "alice-token-" + "x" * 40
    digest = hashlib.sha256(alice.encode()).hexdigest()
    ws = make_workspace(
        workspace,
        f'\n[http]\nprincipal = "ci-bot"\ntokens = [{{principal = "alice", sha256 = "{digest}"}}]\n',
    )
    server = start_http(ws)
    try:
        async with client_for(server, alice) as client:
            assert not (await client.call_tool("demo_noop", {})).is_error
        async with client_for(server, server.token) as client:
            assert not (await client.call_tool("demo_noop", {})).is_error
    finally:
        stop(server.proc)
    assert [r["operator"] for r in outcomes(ws, "demo_noop")] == ["alice", "ci-bot"]


def test_non_loopback_bind_needs_allowed_hosts(ws: Path) -> None:
    import subprocess

    proc = subprocess.run(
        tollhouse_cmd("--config", str(ws / "tollhouse.toml"), "serve", "--http", "0.0.0.0:0"),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "allowed_hosts" in proc.stderr


def test_bad_listen_address_is_a_usage_error(ws: Path) -> None:
    import subprocess

    proc = subprocess.run(
        tollhouse_cmd("--config", str(ws / "tollhouse.toml"), "serve", "--http", "localhost:http"),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "port must be a number" in proc.stderr


@pytest.mark.parametrize("legacy", [False, True], ids=["operator-folder", "legacy-in-workspace"])
def test_loose_token_file_permissions_refuse_to_start(ws: Path, legacy: bool) -> None:
    import subprocess

    token = ws / ".tollhouse" / "http-token" if legacy else http_token_file(ws)
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("t" * 40)
    token.chmod(0o644)
    proc = subprocess.run(
        tollhouse_cmd("--config", str(ws / "tollhouse.toml"), "serve", "--http", "127.0.0.1:0"),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and f"chmod 600 {token}" in proc.stderr
    assert token.read_text() == "t" * 40 and not (legacy and http_token_file(ws).exists())  # not moved


@pytest.mark.parametrize(
    ("body", "listen", "message"),
    [
        ('[http]\nauth = "maybe"\n', None, "http.auth must be 'token', 'oauth' or 'none'"),
        ('[http]\ntokens = [{principal = "a"}]\n', None, "needs principal and sha256"),
        ('[http]\ntokens = [{principal = "a", sha256 = "abc"}]\n', None, "64 hex digits"),
        ('[http]\nauth = "none"\nallowed_hosts = ["x:1"]\n', "10.0.0.1:80", "only allowed on a loopback"),
        ("[http]\nmax_event_bytes = 1000\n", None, "max_event_bytes must be 0 (no limit) or an integer"),
        ('[http]\nmax_event_bytes = "1MB"\n', None, "of at least 65536, not '1MB'"),
        ("", "127.0.0.1", "expected HOST:PORT"),
        ("", "127.0.0.1:70000", "port must be a number"),
    ],
)
def test_http_settings_errors_say_what_to_fix(
    tmp_path: Path, body: str, listen: str | None, message: str
) -> None:
    from tollhouse.config import ConfigError, parse_config
    from tollhouse.server.http_auth import load_http_settings

    config = parse_config(body, tmp_path / "tollhouse.toml")
    with pytest.raises(ConfigError) as err:
        load_http_settings(config, listen)
    assert message in str(err.value)


def test_http_settings_defaults_and_ipv6(tmp_path: Path) -> None:
    from tollhouse.config import parse_config
    from tollhouse.server.http_auth import load_http_settings

    config = parse_config("", tmp_path / "tollhouse.toml")
    default = load_http_settings(config, None)
    assert (default.host, default.port, default.auth, default.loopback) == ("127.0.0.1", 8765, "token", True)
    assert default.token_file == http_token_file(tmp_path)
    assert tmp_path not in default.token_file.parents  # never inside the workspace
    assert default.max_event_bytes == 1024 * 1024  # the Python MCP client's limit on one SSE event
    unlimited = load_http_settings(parse_config("[http]\nmax_event_bytes = 0\n", tmp_path / "t.toml"), None)
    assert unlimited.max_event_bytes == 0
    v6 = load_http_settings(config, "[::1]:0")
    assert v6.host == "::1" and v6.loopback and v6.url == "http://[::1]:0/mcp"
