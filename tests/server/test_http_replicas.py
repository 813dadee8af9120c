"""Replicas: two real `serve --http` processes on one workspace with a configured sealing key ring.
A 2026-07-28 approval asked on one is answered on the other, runs once, and a replay on either is
refused; a replica with another key cannot unseal it; handshake sessions stay on their replica."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.server.conftest import outcomes, receipts
from tests.server.http_procs import (
    HEADERS,
    Replica,
    make_shared_workspace,
    operator_home,
    start_replica,
    stop_replica,
)
from tollhouse.server.approvals import INPUT_KEY

ARGS = {"path": "notes/replica.txt", "text": "approved on A, run on B"}
USED = "this approval was already used"
KEY = secrets.token_hex(32)


async def _never(ctx, params):
    raise AssertionError("the manual flow must not reach the callback")


YES = {INPUT_KEY: types.ElicitResult(action="accept", content={"approve": True})}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, Replica, Path, Path]]:
    home = tmp_path_factory.mktemp("home")
    keyfile = tmp_path_factory.mktemp("keys") / "sealing-key"
    keyfile.write_text(f"# team approval sealing key\n{KEY}\n")
    keyfile.chmod(0o600)
    root = make_shared_workspace(
        tmp_path_factory.mktemp("replicas") / "ws", home, f'\n[http]\nsealing_key_file = "{keyfile}"\n'
    )
    a = start_replica(root, home)
    b = start_replica(root, home)
    try:
        yield a, b, root, home
    finally:
        stop_replica(a)
        stop_replica(b)


def client(r: Replica, **kw) -> Client:
    http = httpx2.AsyncClient(headers=r.auth)
    return Client(streamable_http_client(r.url, http_client=http), **kw)


@pytest.mark.anyio
async def test_an_approval_sealed_on_one_replica_is_accepted_by_the_other_once(replicas) -> None:
    a, b, root, _ = replicas
    assert a.url != b.url and a.token == b.token
    assert any("approvals sealed with shared key ring" in line for line in a.lines)
    async with client(a, mode="auto", elicitation_callback=_never) as on_a:
        assert on_a.protocol_version == "2026-07-28"
        asked = await on_a.session.call_tool("demo_note_write", ARGS, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
    assert not (root / "notes" / "replica.txt").exists()
    async with client(b, mode="auto", elicitation_callback=_never) as on_b:
        done = await on_b.session.call_tool(
            "demo_note_write", ARGS, input_responses=YES, request_state=asked.request_state
        )
        assert not done.is_error, done.content[0].text
        again_b = await on_b.session.call_tool(
            "demo_note_write", ARGS, input_responses=YES, request_state=asked.request_state
        )
    async with client(a, mode="auto", elicitation_callback=_never) as on_a:
        again_a = await on_a.session.call_tool(
            "demo_note_write", ARGS, input_responses=YES, request_state=asked.request_state
        )
    for replay in (again_a, again_b):
        assert replay.is_error and USED in replay.content[0].text
    assert (root / "notes" / "replica.txt").read_text() == ARGS["text"]
    writes = outcomes(root, "demo_note_write")
    assert [w["outcome"] for w in writes].count("ok") == 1
    # Both processes wrote into the one chain of the shared store, gapless.
    seqs = [r["seq"] for r in receipts(root)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@pytest.mark.anyio
async def test_a_replica_with_another_key_cannot_unseal_the_state(replicas) -> None:
    a, _, root, home = replicas
    other = start_replica(root, home, env={"TOLLHOUSE_SEALING_KEY": secrets.token_hex(32)})
    try:
        args = {"path": "notes/other-key.txt", "text": "x"}
        async with client(a, mode="auto", elicitation_callback=_never) as on_a:
            asked = await on_a.session.call_tool("demo_note_write", args, allow_input_required=True)
        async with client(other, mode="auto", elicitation_callback=_never) as on_c:
            with pytest.raises(MCPError) as refused:
                await on_c.session.call_tool(
                    "demo_note_write", args, input_responses=YES, request_state=asked.request_state
                )
        assert refused.value.error.message == "Invalid or expired requestState"
        assert not (root / "notes" / "other-key.txt").exists()
    finally:
        stop_replica(other)


def test_handshake_sessions_are_sticky(replicas) -> None:
    a, b, _, _ = replicas
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
    opened = httpx.post(a.url, content=json.dumps(init), headers={**HEADERS, **a.auth}, timeout=20)
    sid = opened.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    hdrs = {**HEADERS, **b.auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    elsewhere = httpx.post(b.url, content=json.dumps(ping), headers=hdrs, timeout=20)
    assert elsewhere.status_code == 404  # the session lives on replica A only


BAD_SETTINGS = [
    ('sealing_key_file = "KEYDIR/short"', {}, "is not 64 hex digits"),
    ('sealing_key_file = "KEYDIR/loose"', {}, "is readable by other users"),
    ('sealing_key_file = "KEYDIR/missing"', {}, "cannot read"),
    ('sealing_key_file = "ROOT/inside"', {}, "where tools can read it"),
    ('sealing_key_file = "KEYDIR/empty"', {}, "holds no key"),
    ("", {"TOLLHOUSE_SEALING_KEY": "zz" * 32}, "is not 64 hex digits"),
    ("", {"TOLLHOUSE_SEALING_KEY": "ab" * 16}, "is not 64 hex digits"),
    ('event_store = "redis"', {}, "http.event_store must be one of sqlite, memory, off"),
    ("metrics = 1", {}, "http.metrics must be true or false"),
    ('otlp_endpoint = "collector:4317"', {}, "must be an http:// or https:// URL"),
    ("shutdown_grace_s = -1", {}, "shutdown_grace_s must be a number of seconds"),
    ('shutdown_grace_s = "10"', {}, "shutdown_grace_s must be a number of seconds"),
]


def _bad_workspace(tmp_path: Path, setting: str) -> tuple[Path, Path]:
    keydir = tmp_path / "keys"
    keydir.mkdir()
    for name, text, mode in (
        ("short", "abcd\n", 0o600),
        ("loose", secrets.token_hex(32), 0o644),
        ("empty", "# nothing\n", 0o600),
    ):
        (keydir / name).write_text(text)
        (keydir / name).chmod(mode)
    root = tmp_path / "ws"
    home = tmp_path / "home"
    body = "\n[http]\n" + setting.replace("KEYDIR", str(keydir)).replace("ROOT", str(root)) + "\n"
    make_shared_workspace(root, home, body)
    (root / "inside").write_text(secrets.token_hex(32))
    (root / "inside").chmod(0o600)
    return root, home


@pytest.mark.parametrize(("setting", "env", "words"), BAD_SETTINGS)
def test_bad_operations_settings_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, env: dict[str, str], words: str
) -> None:
    from tollhouse.config import ConfigError, load_config
    from tollhouse.server.http_options import load_http_options

    root, _ = _bad_workspace(tmp_path, setting)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as refused:
        load_http_options(load_config(root / "tollhouse.toml"))
    assert words in str(refused.value)


def test_a_bad_setting_stops_serve_before_anything_is_created(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import subprocess_env, tollhouse_cmd

    root, home = _bad_workspace(tmp_path, 'sealing_key_file = "KEYDIR/loose"')
    proc = subprocess.run(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "serve", "--http", "127.0.0.1:0"),
        cwd=root,
        env=subprocess_env(TOLLHOUSE_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "is readable by other users (mode 644)" in proc.stderr
    assert not (root / ".tollhouse").exists()  # no store, no event log, no approvals file
    with operator_home(home):
        from tollhouse.opdirs import secrets_dir

        assert not (secrets_dir(root / ".tollhouse") / "http-token").exists()


def test_sealing_key_ring_rotation_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tollhouse.config import load_config
    from tollhouse.server.http_options import load_http_options

    root, _ = _bad_workspace(tmp_path, "")
    new, old = secrets.token_hex(32), secrets.token_hex(32)
    monkeypatch.setenv("TOLLHOUSE_SEALING_KEY", f"{new},{old}")
    options = load_http_options(load_config(root / "tollhouse.toml"))
    assert options.sealing_keys == [bytes.fromhex(new), bytes.fromhex(old)]  # the first seals
    assert options.sealing_source == "$TOLLHOUSE_SEALING_KEY"
    monkeypatch.delenv("TOLLHOUSE_SEALING_KEY")
    assert load_http_options(load_config(root / "tollhouse.toml")).sealing_keys is None
