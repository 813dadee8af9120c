"""The commands that gained --json print one JSON document a script can read."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import th
from tests.conftest import key_dir


def test_export_prove_and_verify_proof_as_json(history: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.jsonl"
    out = th(history, "receipts", "export", "--out", str(bundle), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["out"] == str(bundle) and data["count"] == 12 and bundle.exists()
    proof = tmp_path / "p.json"
    assert th(history, "receipts", "prove", "3", "--out", str(proof)).returncode == 0
    pub = key_dir(history / ".tollhouse") / "receipts-ed25519.pub"
    ok = th(history, "receipts", "verify-proof", str(proof), "--public-key", str(pub), "--json")
    assert (ok.returncode, json.loads(ok.stdout)["ok"]) == (0, True)
    tampered = json.loads(proof.read_text())
    tampered["entry"]["tool"] = "shell_run"
    proof.write_text(json.dumps(tampered))
    bad = th(history, "receipts", "verify-proof", str(proof), "--public-key", str(pub), "--json")
    assert bad.returncode == 8 and json.loads(bad.stdout)["ok"] is False


def test_cases_open_and_memory_accept_as_json(ws: Path) -> None:
    opened = th(ws, "cases", "open", "Tidy up", "--id", "tidy", "--json")
    assert opened.returncode == 0, opened.stderr
    assert json.loads(opened.stdout)["created"] is True and json.loads(opened.stdout)["case"]["id"] == "tidy"
    again = json.loads(th(ws, "cases", "open", "Tidy up", "--id", "tidy", "--json").stdout)
    assert again["created"] is False
    fact = '{"subject": "api", "predicate": "owner", "object": "team-a"}'
    proposed = th(ws, "call", "memory_propose", fact, "--json")
    assert proposed.returncode == 0, proposed.stderr
    fact_id = json.loads(proposed.stdout)["result"]["id"]
    accepted = th(ws, "memory", "accept", str(fact_id), "--note", "checked", "--json")
    assert accepted.returncode == 0, accepted.stderr
    data = json.loads(accepted.stdout)
    assert data["fact"]["status"] == "accepted" and data["retired"] is None
