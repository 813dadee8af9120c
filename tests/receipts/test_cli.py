"""`tollhouse receipts ...` as a user runs it: a real subprocess, real exit codes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import key_dir, subprocess_env, tollhouse_cmd, write_config
from tests.receipts.conftest import attacker, fill


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_config(workspace, "[receipts]\ncheckpoint_every = 5\n")
    asyncio.run(fill(workspace / ".tollhouse", 6, checkpoint_every=5))
    return workspace


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, capture_output=True, text=True, env=subprocess_env(), timeout=60
    )


def test_tail_table_and_json(ws: Path) -> None:
    out = run(ws, "receipts", "tail", "--receipts", "-n", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == [
        "SEQ",
        "TIME",
        "(UTC)",
        "KIND",
        "TOOL",
        "RESULT",
        "CHANNEL",
        "CALL",
        "MESSAGE",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["10", "11", "12"]
    assert lines[1].index("outcome") == lines[2].index("intent") == lines[0].index("KIND")  # aligned
    data = json.loads(run(ws, "receipts", "tail", "--receipts", "-n", "4", "--json").stdout)
    assert [e["seq"] for e in data] == [9, 10, 11, 12]
    assert data[0]["arguments"] == {"path": "src/f4.py"}


def test_show_by_seq_and_call_id(ws: Path) -> None:
    out = run(ws, "receipts", "show", "3")
    assert out.returncode == 0, out.stderr
    assert "receipt 3  intent" in out.stdout and "receipt 4  outcome" in out.stdout
    data = json.loads(run(ws, "receipts", "show", "call-1", "--json").stdout)
    assert data["call_id"] == "call-1"
    assert [e["kind"] for e in data["entries"]] == ["intent", "outcome"]
    missing = run(ws, "receipts", "show", "nope")
    assert missing.returncode == 2
    assert "no receipt with seq or call id 'nope'" in missing.stderr


def test_verify_export_and_verify_bundle(ws: Path, tmp_path: Path) -> None:
    ok = run(ws, "receipts", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok: 12 entries, 3 signed checkpoints")
    bundle = tmp_path / "out.jsonl"
    exported = run(ws, "receipts", "export", "--out", str(bundle))
    assert exported.returncode == 0 and bundle.exists()
    # Verifying a bundle needs no workspace at all.
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    assert run(elsewhere, "receipts", "verify", str(bundle)).returncode == 0
    pub = key_dir(ws / ".tollhouse") / "receipts-ed25519.pub"
    assert run(elsewhere, "receipts", "verify", str(bundle), "--public-key", str(pub)).returncode == 0


def test_verify_reports_the_first_bad_seq(ws: Path) -> None:
    attacker(ws / ".tollhouse" / "receipts.db").execute("UPDATE receipts SET tool = 'x' WHERE seq = 7")
    out = run(ws, "receipts", "verify")
    assert out.returncode == 8
    assert out.stdout.startswith("FAILED at seq 7: entry 7 does not match its hash")
    data = json.loads(run(ws, "receipts", "verify", "--json").stdout)
    assert (data["ok"], data["first_bad_seq"]) == (False, 7)


def test_config_and_store_errors(ws: Path, tmp_path: Path) -> None:
    bad = run(ws, "--config", str(tmp_path / "missing.toml"), "receipts", "tail")
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"tollhouse receipts: config file {tmp_path / 'missing.toml'} does not exist"
    assert "Traceback" not in bad.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_config(fresh, "")
    assert run(fresh, "receipts", "tail").stdout.startswith("no receipts yet")
    none = run(fresh, "receipts", "verify")
    assert none.returncode == 7 and "nothing to verify yet" in none.stderr
    assert run(fresh, "receipts", "export", "--out", str(tmp_path / "x.jsonl")).returncode == 7
    assert run(ws, "receipts").returncode == 2


def test_help_teaches(ws: Path) -> None:
    out = run(ws, "receipts", "--help")
    assert out.returncode == 0
    for text in ("tail", "show", "verify", "export", "prove", "verify-proof", "examples:", "exits 8"):
        assert text in out.stdout
    assert "--public-key" in run(ws, "receipts", "verify", "--help").stdout


def test_prove_and_verify_proof_offline(ws: Path, tmp_path: Path) -> None:
    pub = key_dir(ws / ".tollhouse") / "receipts-ed25519.pub"
    proof = tmp_path / "p.json"
    made = run(ws, "receipts", "prove", "7", "--out", str(proof))
    assert made.returncode == 0, made.stderr
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    ok = run(elsewhere, "receipts", "verify-proof", str(proof), "--public-key", str(pub))
    assert (ok.returncode, ok.stdout.strip()) == (0, "ok: receipt 7 is in the signed log of 12 receipts")
    data = json.loads(proof.read_text())
    for change in ({"tool": "shell_run"}, {"seq": 8}, {"hash": "0" * 64}):
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(data | {"entry": data["entry"] | change}))
        bad = run(elsewhere, "receipts", "verify-proof", str(forged), "--public-key", str(pub))
        assert bad.returncode == 8 and bad.stdout.startswith("FAILED:"), (change, bad.stdout)
    # A path that does not lead to the signed root, and a checkpoint edited to match a forgery.
    forged.write_text(json.dumps(data | {"hashes": data["hashes"][::-1]}))
    bad = run(elsewhere, "receipts", "verify-proof", str(forged), "--public-key", str(pub))
    assert bad.returncode == 8 and "is not in the log the checkpoint signs" in bad.stdout
    forged.write_text(json.dumps(data | {"checkpoint": data["checkpoint"].replace("\n12\n", "\n13\n")}))
    bad = run(elsewhere, "receipts", "verify-proof", str(forged), "--public-key", str(pub))
    assert bad.returncode == 8 and "signature does not verify" in bad.stdout
    assert run(ws, "receipts", "prove", "13").returncode == 7  # not in the store
    assert run(ws, "receipts", "prove").returncode == 2


def test_consistency_proof_and_since_checkpoint(ws: Path, tmp_path: Path) -> None:
    pub = key_dir(ws / ".tollhouse") / "receipts-ed25519.pub"
    old = tmp_path / "old.checkpoint"
    assert run(ws, "receipts", "prove", "--checkpoint-only", "--out", str(old)).returncode == 0
    asyncio.run(fill(ws / ".tollhouse", 2, checkpoint_every=5, start=50))  # 16 entries now
    grew = tmp_path / "grew.json"
    assert run(ws, "receipts", "prove", "--consistency", str(old), "--out", str(grew)).returncode == 0
    ok = run(ws, "receipts", "verify-proof", str(grew), "--public-key", str(pub))
    assert (ok.returncode, ok.stdout.strip()) == (
        0,
        "ok: the log of 12 receipts is a prefix of the log of 16",
    )
    assert run(ws, "receipts", "verify", "--since-checkpoint", str(old)).returncode == 0
    # Truncate back to 10 together with every checkpoint above it: only the kept checkpoint tells.
    conn = attacker(ws / ".tollhouse" / "receipts.db")
    conn.execute("DELETE FROM receipts WHERE seq > 10")
    conn.execute("DELETE FROM notes WHERE size > 10")
    assert run(ws, "receipts", "verify").returncode == 0
    bad = run(ws, "receipts", "verify", "--since-checkpoint", str(old))
    assert bad.returncode == 8
    assert "entries 11..12 were removed (the history was truncated)" in bad.stdout
    assert run(ws, "receipts", "prove", "--consistency", str(old)).returncode == 7


def test_require_head_flag(ws: Path) -> None:
    attacker(ws / ".tollhouse" / "receipts.db").execute("DELETE FROM notes WHERE size = 12")
    bad = run(ws, "receipts", "verify")
    assert bad.returncode == 8
    assert "entries 11..12 are not covered by a signed checkpoint" in bad.stdout
    ok = run(ws, "receipts", "verify", "--no-require-head")
    assert ok.returncode == 0
    assert "the last 2 entries are chained but not yet covered" in ok.stdout


def test_operator_witness_is_checked_without_being_named(workspace: Path) -> None:
    from tollhouse.receipts.witness import operator_witness

    write_config(workspace, "[receipts]\ncheckpoint_every = 5\n")
    asyncio.run(
        fill(workspace / ".tollhouse", 6, checkpoint_every=5, witnesses=(operator_witness(workspace),))
    )
    ok = run(workspace, "receipts", "verify")
    assert ok.returncode == 0 and "consistent with 1 older checkpoint(s) and witness copies" in ok.stdout
    conn = attacker(workspace / ".tollhouse" / "receipts.db")
    conn.execute("DELETE FROM receipts WHERE seq > 10")
    conn.execute("DELETE FROM notes WHERE size > 10")
    bad = run(workspace, "receipts", "verify")
    assert bad.returncode == 8 and "was truncated" in bad.stdout
    for spec, said in (
        ("https://example.invalid/w", "cannot reach witness https://example.invalid/w/"),
        ("http://example.com/w", "plain http is for loopback addresses only; use https"),
        ("ftp://example.com/w", "a witness is file:/path or https://host/path"),
        ("file:/nowhere/at/all", "witness folder /nowhere/at/all does not exist"),
    ):
        bogus = run(workspace, "receipts", "verify", "--witness", spec)
        assert bogus.returncode == 2 and said in bogus.stderr, (spec, bogus.stderr)


def test_incremental_verify_reads_only_what_is_new(ws: Path) -> None:
    first = run(ws, "receipts", "verify", "--incremental")
    assert first.returncode == 0 and "verified by an earlier run" not in first.stdout
    asyncio.run(fill(ws / ".tollhouse", 2, checkpoint_every=5, start=50))  # 16 entries now
    second = run(ws, "receipts", "verify", "--incremental", "--json")
    data = json.loads(second.stdout)
    assert (second.returncode, data["ok"], data["resumed_from"], data["count"]) == (0, True, 12, 16)
    # An old entry rewritten and the tail re-hashed: entry 17, appended after that, links to a head
    # the earlier run never saw, although entries 1..16 are not read again.
    conn = attacker(ws / ".tollhouse" / "receipts.db")
    from tests.receipts.test_tamper import rehash_from

    conn.execute("UPDATE receipts SET tool = 'x' WHERE seq = 3")
    rehash_from(conn, 3)
    asyncio.run(fill(ws / ".tollhouse", 2, checkpoint_every=5, start=60))  # the server signs 20
    bad = run(ws, "receipts", "verify", "--incremental")
    assert bad.returncode == 8
    assert bad.stdout.startswith("FAILED at seq 16: entry 16 does not hash to the value entry 17 recorded")
    assert run(ws, "receipts", "verify").returncode == 8


def test_progress_bar_only_on_a_terminal(ws: Path) -> None:
    import os
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            tollhouse_cmd("receipts", "verify"), cwd=ws, stdout=subprocess.PIPE, stderr=slave,
            env=subprocess_env(), timeout=60, text=True,
        )  # fmt: skip
        os.close(slave)
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0 and proc.stdout.startswith("ok: 12 entries")
    assert b"100% 12/12 entries" in drawn
    piped = run(ws, "receipts", "verify")
    assert piped.stderr == ""  # not a terminal: nothing drawn
