"""The gate's secrets (receipt-signing key, HTTP token) live outside the workspace, where no tool can
read them; old copies in `.tollhouse/` move out on first open; the operator may name a key instead."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import http_token_file, key_dir, receipt_rows, subprocess_env, tollhouse_cmd, write_config
from tests.server.conftest import INIT, make_workspace, start_http, stop
from tests.trust.conftest import snapshot, th

LIST = '{"path": "."}'
POLICY = '[tools]\nfamilies = ["files"]\n\n[[rules]]\nid = "list"\ntools = ["files_list"]\neffect = "allow"\n'


def _key_material(pem: bytes) -> list[bytes]:
    """What would betray the private key: each base64 line of its PEM, its 32-byte seed in hex, base64."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    lines = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    return [*lines, seed.hex().encode(), base64.b64encode(seed)]


def _leaks(root: Path, needles: list[bytes]) -> list[str]:
    return [name for name, data in snapshot(root).items() for n in needles if n in data]


def _initialize(url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    return httpx.post(url, json=INIT, timeout=10, headers=headers).status_code


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_file_in_the_workspace_holds_key_or_token_material(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    assert th(ws, "init", "--profile", "dev").returncode == 0
    assert th(ws, "call", "files_list", LIST).returncode == 0
    assert th(ws, "serve", stdin=json.dumps(INIT) + "\n").returncode == 0
    server = start_http(ws)
    try:
        assert _initialize(server.url, server.token) == 200
    finally:
        stop(server.proc)
    key = key_dir(ws / ".tollhouse") / "receipts-ed25519.key"
    token = http_token_file(ws)
    for secret in (key, token):
        assert ws not in secret.parents and _mode(secret) == 0o600 and _mode(secret.parent) == 0o700
    assert server.token and token.read_text().strip() == server.token
    needles = [*_key_material(key.read_bytes()), server.token.encode()]
    assert _leaks(ws, needles) == []
    assert not (ws / ".tollhouse" / "keys").exists() and not (ws / ".tollhouse" / "http-token").exists()
    # Asked for by path, in any mode, the files are outside every root: denied, nothing returned.
    for secret in (key, token):
        for extra in ({}, {"as_base64": True}):
            out = th(ws, "call", "files_read", json.dumps({"path": str(secret), **extra}), "--json")
            assert out.returncode == 3 and "workspace.roots" in out.stdout
            assert not [n for n in needles if n.decode() in out.stdout + out.stderr]
    # And verification still finds the public key, in its new place.
    verify = th(ws, "receipts", "verify")
    assert verify.returncode == 0, verify.stderr


def _as_an_older_version_left_it(ws: Path) -> tuple[Path, bytes]:
    """Move the key pair back into `.tollhouse/keys/`, where versions before this one kept it."""
    new = key_dir(ws / ".tollhouse")
    legacy = ws / ".tollhouse" / "keys"
    shutil.move(str(new), str(legacy))
    return legacy, (legacy / "receipts-ed25519.key").read_bytes()


def test_a_key_left_in_the_workspace_by_an_older_version_moves_out_and_keeps_verifying(
    workspace: Path,
) -> None:
    write_config(workspace, POLICY)
    assert th(workspace, "call", "files_list", LIST).returncode == 0
    legacy, pem = _as_an_older_version_left_it(workspace)
    doctor = json.loads(th(workspace, "doctor", "--json").stdout)
    check = {c["name"]: c for c in doctor["checks"]}["signing key"]
    assert check["status"] == "FAIL" and "inside the workspace, where tools can read it" in check["detail"]
    assert th(workspace, "receipts", "verify").returncode == 0  # not yet moved: still verifies
    assert th(workspace, "call", "files_list", LIST).returncode == 0
    assert not legacy.exists()
    moved = key_dir(workspace / ".tollhouse") / "receipts-ed25519.key"
    assert moved.read_bytes() == pem and _mode(moved) == 0o600
    verify = th(workspace, "receipts", "verify", "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True
    key_ids = {r["key_id"] for r in _checkpoints(workspace)}
    assert len(key_ids) == 1  # one key signed before and after the move


def _checkpoints(ws: Path) -> list[dict[str, object]]:
    """The signed checkpoints, each with the key id its note's origin names (tollhouse/receipts/KEY_ID)."""
    import sqlite3

    conn = sqlite3.connect(ws / ".tollhouse" / "receipts.db")
    try:
        notes = [str(r[0]) for r in conn.execute("SELECT note FROM notes")]
    finally:
        conn.close()
    return [{"key_id": note.split("\n", 1)[0].rsplit("/", 1)[1], "note": note} for note in notes]


def test_two_different_keys_are_refused_not_guessed(workspace: Path) -> None:
    write_config(workspace, POLICY)
    assert th(workspace, "call", "files_list", LIST).returncode == 0
    legacy = workspace / ".tollhouse" / "keys"
    legacy.mkdir()
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (legacy / "receipts-ed25519.key").write_bytes(other)
    before = snapshot(workspace)
    out = th(workspace, "call", "files_list", LIST)
    assert out.returncode == 7 and "two different signing keys" in out.stderr
    # one entry: the first files_list (a read-only call is one receipt); the refused one wrote none
    assert snapshot(workspace) == before and len(receipt_rows(workspace / ".tollhouse")) == 1


def _pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


def test_the_operator_can_name_the_key_in_the_environment(workspace: Path, tmp_path: Path) -> None:
    write_config(workspace, POLICY)
    pem = _pem()
    assert th(workspace, "call", "files_list", LIST, TOLLHOUSE_SIGNING_KEY=pem).returncode == 0
    assert not (key_dir(workspace / ".tollhouse") / "receipts-ed25519.key").exists()  # none generated
    assert th(workspace, "receipts", "verify").returncode == 0  # its public key was written for verify
    from tollhouse.receipts.signing import key_id_of

    raw = (
        serialization.load_pem_private_key(pem.encode(), None)
        .public_key()
        .public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    )
    assert {c["key_id"] for c in _checkpoints(workspace)} == {key_id_of(raw)}
    outside = tmp_path / "ci-key.pem"
    outside.write_text(pem)
    outside.chmod(0o600)
    assert th(workspace, "call", "files_list", LIST, TOLLHOUSE_SIGNING_KEY_FILE=str(outside)).returncode == 0


@pytest.mark.parametrize("case", ["inside", "loose", "both"])
def test_a_named_key_that_tools_or_others_could_read_is_refused(workspace: Path, case: str) -> None:
    write_config(workspace, POLICY)
    pem = _pem()
    where = workspace / "ci.pem" if case == "inside" else workspace.parent / "ci.pem"
    where.write_text(pem)
    where.chmod(0o644 if case == "loose" else 0o600)
    env = {"TOLLHOUSE_SIGNING_KEY_FILE": str(where)}
    if case == "both":
        env["TOLLHOUSE_SIGNING_KEY"] = pem
    before = snapshot(workspace)
    out = th(workspace, "call", "files_list", LIST, **env)
    expected = {
        "inside": f"$TOLLHOUSE_SIGNING_KEY_FILE names {where}, inside the workspace {workspace} where tools "
        "can read it",
        "loose": f"signing key {where} has mode 0644: other users could read it and forge checkpoints",
        "both": "set $TOLLHOUSE_SIGNING_KEY or $TOLLHOUSE_SIGNING_KEY_FILE, not both",
    }[case]
    assert out.returncode == 7 and expected in out.stderr
    assert snapshot(workspace) == before


def test_an_http_token_left_in_the_workspace_moves_out_and_keeps_working(workspace: Path) -> None:
    ws = make_workspace(workspace)
    legacy = ws / ".tollhouse" / "http-token"
    legacy.parent.mkdir(exist_ok=True)
    legacy.write_text("legacy-token-" + "x" * 40 + "\n")
    legacy.chmod(0o600)
    doctor = json.loads(th(ws, "--config", str(ws / "tollhouse.toml"), "doctor", "--json").stdout)
    check = {c["name"]: c for c in doctor["checks"]}["http token"]
    assert (
        check["status"] == "FAIL"
        and f"{legacy} holds http token material inside the workspace" in check["detail"]
    )
    server = start_http(ws)
    try:
        assert server.token == "legacy-token-" + "x" * 40
        assert "generated a bearer token" not in "".join(server.stderr)
        assert not legacy.exists() and _mode(http_token_file(ws)) == 0o600
        doctor = json.loads(th(ws, "--config", str(ws / "tollhouse.toml"), "doctor", "--json").stdout)
        check = {c["name"]: c for c in doctor["checks"]}["http token"]
        assert check["status"] == "OK" and "(mode 600, outside the workspace)" in check["detail"]
        assert _initialize(server.url, server.token) == 200
    finally:
        stop(server.proc)


@pytest.mark.parametrize("name", ["secret/token", ".tollhouse/http-token", "../ws/token"])
def test_a_configured_token_file_inside_the_workspace_is_refused(workspace: Path, name: str) -> None:
    ws = make_workspace(workspace, f'\n[http]\ntoken_file = "{name}"\n')
    before = snapshot(ws)
    proc = subprocess.run(
        tollhouse_cmd("--config", str(ws / "tollhouse.toml"), "serve", "--http", "127.0.0.1:0"),
        env=subprocess_env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"http.token_file {name!r} lies inside {ws}, where tools can read it" in proc.stderr
    assert snapshot(ws) == before
