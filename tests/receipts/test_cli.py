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
    out = run(ws, "receipts", "tail", "-n", "3")
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
    data = json.loads(run(ws, "receipts", "tail", "-n", "4", "--json").stdout)
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
    for text in ("tail", "show", "verify", "export", "examples:", "exits 8"):
        assert text in out.stdout
    assert "--public-key" in run(ws, "receipts", "verify", "--help").stdout
