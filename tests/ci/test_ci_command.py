"""`tollhouse ci`: export first, verify, summarise, exit per --fail-on. Calls go through the real gate
(in process, real SQLite); `tollhouse ci` runs as a subprocess, as a CI job runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import receipt_rows, subprocess_env, tollhouse_cmd, write_config
from tests.receipts.conftest import attacker
from tollhouse.config import load_config
from tollhouse.gate import Call, Gate

POLICY = """\
[tools]
families = ["shell", "files"]

[redaction]
env = ["CI_TEST_SECRET"]

[[rules]]
id = "read"
tools = ["files_read"]
effect = "allow"

[[rules]]
id = "run"
tools = ["shell_run"]
argv = ["true", "false"]
effect = "allow"

[[rules]]
id = "ask-write"
tools = ["files_write"]
paths = ["ask/**"]
effect = "ask"
"""

OK = [("files_read", {"path": "a.txt"}), ("shell_run", {"argv": ["true"]})]
DENIED = ("files_read", {"path": "../outside"})
ASK = ("files_write", {"path": "ask/x.md", "content": "x"})
FAILED = ("shell_run", {"argv": ["false"]})


def gate_calls(ws: Path, calls: list[tuple[str, dict]]) -> None:
    config = load_config(ws / "tollhouse.toml")

    async def main() -> None:
        async with await Gate.open(config) as gate:
            for tool, args in calls:
                await gate.call(Call(tool, args, channel="cli"))

    anyio.run(main)


def ci(ws: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("ci", *args), cwd=ws, env=subprocess_env(**env), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_config(workspace, POLICY)
    (workspace / "a.txt").write_text("hello\n")
    return workspace


def test_a_passing_run_exits_0_and_leaves_a_verified_bundle(ws: Path, tmp_path: Path) -> None:
    gate_calls(ws, OK)
    outputs, summary = tmp_path / "gh-output", tmp_path / "gh-summary.md"
    out = ci(ws, "--json", "ci.json", GITHUB_OUTPUT=str(outputs), GITHUB_STEP_SUMMARY=str(summary))
    assert out.returncode == 0, out.stdout + out.stderr
    assert (ws / "tollhouse-receipts.jsonl").is_file()
    assert "ok                   2" in out.stdout and "origin NOT checked" in out.stdout
    doc = json.loads((ws / "ci.json").read_text())
    assert doc["ok"] and doc["exit_code"] == 0 and doc["verify"]["ok"]
    assert doc["summary"]["by_status"] == {"ok": 2} and doc["matched"] == []
    assert "bundle=tollhouse-receipts.jsonl\nexit-code=0\ncalls=2\ndenied=0\n" == outputs.read_text()
    assert "| ok | 2 |" in summary.read_text()
    # The bundle is what a reviewer checks, anywhere.
    again = subprocess.run(
        tollhouse_cmd("receipts", "verify", str(ws / "tollhouse-receipts.jsonl")),
        cwd=ws, env=subprocess_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout


def test_fail_on_picks_the_exit_code(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tollhouse.cli import main

    gate_calls(ws, [*OK, DENIED, ASK, FAILED])
    default = ci(ws)  # once as a CI job runs it; the matrix below in process (same code path)
    assert default.returncode == 3
    listed = [line.split() for line in default.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [(row[1], row[2]) for row in listed] == [
        ("denied", "files_read"), ("needs_approval", "files_write"), ("failed", "shell_run"),
    ]  # fmt: skip
    assert "workspace.roots" in default.stdout and "ask-write" in default.stdout
    monkeypatch.chdir(ws)
    cases = {
        "denied,needs_approval,error": 3,  # the default
        "needs_approval": 4,
        "error": 0,
        "failed": 10,
        "error,failed,needs_approval": 4,  # precedence: denied, needs_approval, error, failed
        "failed , error": 10,
        "never": 0,
    }
    for fail_on, code in cases.items():
        capsys.readouterr()
        assert main(["ci", "--fail-on", fail_on, "--json", "-"]) == code, fail_on
        doc = json.loads(capsys.readouterr().out)  # the table goes to stderr when JSON takes stdout
        assert doc["exit_code"] == code and doc["ok"] == (code == 0)
        assert doc["summary"]["by_status"] == {"ok": 2, "failed": 1, "denied": 1, "needs_approval": 1}


@pytest.mark.parametrize(
    "fail_on", ["", "denied,", "deny", "denied,never", "never,never,x", "DENIED"], ids=repr
)
def test_a_bad_fail_on_is_refused_before_anything_is_written(
    ws: Path, fail_on: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tollhouse.cli import main

    gate_calls(ws, OK)
    monkeypatch.chdir(ws)
    code = main(["ci", "--fail-on", fail_on])
    if fail_on == "denied,":  # a trailing comma is harmless
        assert code == 0
        return
    assert code == 2 and "--fail-on" in capsys.readouterr().err
    assert not (ws / "tollhouse-receipts.jsonl").exists()


def test_a_tampered_store_still_leaves_the_bundle_and_exits_8(ws: Path) -> None:
    gate_calls(ws, OK)
    attacker(ws / ".tollhouse" / "receipts.db").execute("UPDATE receipts SET tool = 'x' WHERE seq = 1")
    for fail_on in ("never", "denied"):
        out = ci(ws, "--fail-on", fail_on, "--json", "ci.json")
        assert out.returncode == 8, out.stdout + out.stderr
        bundle = (ws / "tollhouse-receipts.jsonl").read_text()
        assert '"tool":"x"' in bundle  # the evidence as it is, for whoever looks into it
        assert "receipts: FAILED at seq 1: entry 1 does not match its hash" in out.stdout
        assert json.loads((ws / "ci.json").read_text())["verify"]["first_bad_seq"] == 1


def test_a_store_too_damaged_to_read_is_copied_raw(ws: Path) -> None:
    gate_calls(ws, OK)
    db = ws / ".tollhouse" / "receipts.db"
    data = bytearray(db.read_bytes())
    data[:100] = b"\0" * 100  # no SQLite header any more
    db.write_bytes(bytes(data))
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    page = ws.parent / "summary.md"
    out = ci(ws, "--summary", str(page))
    assert out.returncode == 8, out.stdout + out.stderr
    assert "- verification: FAILED: the store cannot be read" in page.read_text()
    assert "the store is copied raw to" in out.stderr and "receipts: FAILED" in out.stdout
    assert (ws / "tollhouse-receipts.jsonl.db").read_bytes()[:100] == b"\0" * 100


def test_no_store_means_no_call_reached_the_gate(ws: Path) -> None:
    out = ci(ws)
    assert out.returncode == 7 and "no call reached the gate" in out.stderr
    assert not (ws / "tollhouse-receipts.jsonl").exists()


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_the_signing_key_from_a_secret_proves_origin(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret, other = _pem(Ed25519PrivateKey.generate()), _pem(Ed25519PrivateKey.generate())
    monkeypatch.setenv("TOLLHOUSE_SIGNING_KEY", secret)
    gate_calls(ws, OK)
    out = ci(ws)
    assert out.returncode == 0 and "matches the signing key in the environment" in out.stdout, (
        out.stdout + out.stderr
    )
    wrong = ci(ws, TOLLHOUSE_SIGNING_KEY=other)
    assert wrong.returncode == 8 and "not the expected" in wrong.stdout, wrong.stdout
    pub = ws.parent / "trusted.pub"
    pub.write_text(json.loads(ci(ws, "--json", "-").stdout)["verify"]["key_id"])  # not a key: refused
    assert ci(ws, "--public-key", str(pub)).returncode == 2


def test_receipts_carry_the_ci_context_redacted(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    github = {
        "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "987", "GITHUB_SHA": "0123abcd",
        "GITHUB_WORKFLOW": "agent",
        "GITHUB_ACTOR": "octocat", "GITHUB_REPOSITORY": "o/r", "GITHUB_REF": "refs/heads/s3cr3t-value-42",
        "GITHUB_SERVER_URL": "https://github.com", "CI_TEST_SECRET": "s3cr3t-value-42",
    }  # fmt: skip
    for name, value in github.items():
        monkeypatch.setenv(name, value)
    gate_calls(ws, OK)
    rows = receipt_rows(ws / ".tollhouse")
    events = [r for r in rows if r["kind"] == "event"]
    assert len(events) == 1 and events[0]["seq"] == 1
    details = json.loads(events[0]["details"])
    ci_ctx = details["ci"]
    assert details["event"] == "process" and details["process"] == rows[-1]["process"]
    assert ci_ctx["run_id"] == "987" and ci_ctx["commit"] == "0123abcd" and ci_ctx["actor"] == "octocat"
    assert ci_ctx["url"] == "https://github.com/o/r/actions/runs/987"
    assert "s3cr3t-value-42" not in json.dumps(rows) and ci_ctx["ref"].startswith("refs/heads/")
    out = ci(ws, "--json", "-")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["summary"]["ci"][0]["workflow"] == "agent"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {}),
        ({"CI": "true"}, {"system": "ci"}),
        ({"GITLAB_CI": "true", "CI_PIPELINE_ID": "5", "CI_COMMIT_SHA": "ff", "GITLAB_USER_LOGIN": "u"},
         {"system": "gitlab-ci", "run_id": "5", "commit": "ff", "actor": "u"}),
        ({"TOLLHOUSE_CI_RUN_ID": "b-7", "TOLLHOUSE_CI_COMMIT": "aa"},
         {"system": "ci", "run_id": "b-7", "commit": "aa"}),
        ({"GITHUB_ACTIONS": "false", "GITHUB_RUN_ID": "1"}, {}),
        ({"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "x" * 2000},
         {"system": "github-actions", "actor": "x" * 512}),
    ],
    ids=["none", "generic", "gitlab", "override", "not-github", "long"],
)  # fmt: skip
def test_ci_context_from_each_system(env: dict[str, str], expected: dict[str, str]) -> None:
    from tollhouse.receipts.process import ci_context

    assert ci_context(env) == expected


def test_outside_ci_nothing_extra_is_written(ws: Path) -> None:
    assert not any(n in os.environ for n in ("CI", "GITHUB_ACTIONS"))
    gate_calls(ws, OK[:1])
    assert [r["kind"] for r in receipt_rows(ws / ".tollhouse")] == ["outcome"]


def test_sqlite_store_is_left_as_it_was(ws: Path) -> None:
    gate_calls(ws, OK)
    db = ws / ".tollhouse" / "receipts.db"
    before = sqlite3.connect(db).execute("SELECT count(*), max(seq) FROM receipts").fetchone()
    assert ci(ws).returncode == 0
    assert sqlite3.connect(db).execute("SELECT count(*), max(seq) FROM receipts").fetchone() == before


def test_an_unwritable_destination_is_exit_7_not_a_verification_failure(ws: Path) -> None:
    gate_calls(ws, OK)
    out = ci(ws, "--out", str(ws / "no-such-dir" / "b.jsonl"))
    assert out.returncode == 7, out.stdout + out.stderr
    assert "cannot write the bundle" in out.stderr and not (ws / "no-such-dir").exists()


KILLED = """
import os, sys, anyio
from tollhouse.config import load_config
from tollhouse.gate import Call, Gate

async def main():
    gate = await Gate.open(load_config(sys.argv[1]))
    await gate.call(Call("files_read", {"path": "a.txt"}, channel="cli"))
    os._exit(0)  # killed before the store signed the head

anyio.run(main)
"""


def test_a_server_killed_before_it_signed_fails_unless_asked(ws: Path) -> None:
    gate_calls(ws, OK)  # signed at close
    config = ws / "tollhouse.toml"
    write_config(ws, POLICY + "\n[receipts]\ncheckpoint_interval_s = 3600\n")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(config)], env=subprocess_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert killed.returncode == 0, killed.stderr
    out = ci(ws)
    assert out.returncode == 8 and "are not covered by a signed checkpoint" in out.stdout, out.stdout
    lenient = ci(ws, "--no-require-head")
    assert lenient.returncode == 0, lenient.stdout
    assert "the last 1 entries are chained but not covered by a signature" in lenient.stdout
