"""The file tools through the real gate: receipts carry paths, bytes and digests; refusals leave one too."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.conftest import receipt_rows
from tests.files.conftest import TOOLS
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

pytestmark = pytest.mark.anyio


def outcome_row(config, call_id: str) -> dict:
    rows = receipt_rows(config.state_dir, call_id)
    assert rows, "every call leaves a receipt"
    return rows[-1]


def details(row: dict) -> dict:
    return json.loads(row["details"]) if row["details"] else {}


async def test_write_and_edit_receipts_carry_paths_bytes_and_digests(setup):
    config, root, _ = setup
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("files_write", {"path": "notes/a.txt", "content": "one\n"}, channel="cli"))
        assert out.status == "ok", out.message
        facts = details(outcome_row(config, out.call_id))
        assert facts["paths"] == ["notes/a.txt"] and facts["bytes"] == 4
        assert facts["sha256_before"] is None
        assert facts["sha256_after"] == hashlib.sha256(b"one\n").hexdigest()
        out = await gate.call(
            Call("files_edit", {"path": "notes/a.txt", "edits": [{"old_text": "one", "new_text": "two"}]})
        )
        assert out.status == "ok" and "+two" in out.result["diff"]
        facts = details(outcome_row(config, out.call_id))
        assert facts["sha256_before"] == hashlib.sha256(b"one\n").hexdigest()
        assert facts["sha256_after"] == hashlib.sha256(b"two\n").hexdigest()
    assert (root / "notes/a.txt").read_text() == "two\n"


async def test_refused_attempts_leave_receipts_and_change_nothing(setup):
    config, root, outside = setup
    os.symlink(outside, root / "out_link")
    (root / "vendor/locked").mkdir(parents=True)
    (root / "vendor/locked/lib.c").write_text("x")
    (root / ".git").mkdir()
    attempts = [
        ("files_read", {"path": "../outside/secret.txt"}, "denied", "workspace.roots"),
        ("files_write", {"path": "out_link/pwn.txt", "content": "x"}, "denied", "workspace.roots"),
        ("files_write", {"path": ".git/config", "content": "x"}, "denied", "workspace.immutable"),
        # policy sees only "vendor"; the tool's own guard finds the immutable path inside the tree
        ("files_delete", {"path": "vendor", "recursive": True}, "denied", "workspace.immutable"),
        ("files_move", {"source": "vendor", "destination": "v2"}, "denied", "workspace.immutable"),
    ]
    async with await Gate.open(config) as gate:
        for tool, args, status, rule in attempts:
            out = await gate.call(Call(tool, args))
            assert out.status == status and rule in out.decision.rules, (tool, out.message)
            row = outcome_row(config, out.call_id)
            assert row["outcome"] == status and rule in json.loads(row["rules"])
            assert "TOP-SECRET" not in json.dumps(out.to_json())
        os.mkfifo(root / "fifo")
        out = await gate.call(Call("files_read", {"path": "fifo"}))
        assert out.status == "error" and "FIFO" in out.message
        assert outcome_row(config, out.call_id)["outcome"] == "error"
        out = await gate.call(Call("files_write", {"path": "fifo", "content": "x", "overwrite": True}))
        assert out.status == "error" and details(outcome_row(config, out.call_id))["paths"] == ["fifo"]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (root / "vendor/locked/lib.c").read_text() == "x" and not (root / "pwn.txt").exists()


async def test_catalogue_annotations_are_honest(setup):
    config, _, _ = setup
    async with await Gate.open(config) as gate:
        specs = {s.name: s for s in gate.catalogue()}
    assert set(TOOLS) <= set(specs)
    assert specs["files_read"].annotations["read_only_hint"] is True
    assert specs["files_delete"].annotations["destructive_hint"] is True
    assert specs["files_write"].annotations["read_only_hint"] is False
