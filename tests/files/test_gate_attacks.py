"""The adversarial list through the real gate: each attempt is refused with a clear error, nothing
outside is read or changed, and the outcome receipt records the refusal.

tests/files/test_escapes.py, test_special.py and test_race.py attack the tools directly and in depth;
this module repeats one attempt per kind through `Gate.call`, where a model's calls really arrive.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading

import pytest

from tests.files.conftest import tree_state
from tests.files.test_gate import outcome_row
from tests.files.test_race import _swapper
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SECRET = "TOP-SECRET\n"


def receipt_count(config) -> int:
    conn = sqlite3.connect(config.state_dir / "receipts.db")
    try:
        sql = "SELECT COUNT(DISTINCT call_id) FROM receipts WHERE call_id IS NOT NULL"
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


# (tool, arguments, expected status, text the message must contain)
EDIT = [{"old_text": "0", "new_text": "1"}]
ATTEMPTS = [
    ("files_read", {"path": "nul\x00.txt"}, "denied", "NUL byte"),
    ("files_write", {"path": "nul\x00.txt", "content": "x"}, "denied", "NUL byte"),
    ("files_read", {"path": "\uff0e\uff0e/outside/secret.txt"}, "error", "does not exist"),
    ("files_read", {"path": "\u2025/outside/secret.txt"}, "error", "does not exist"),
    ("files_read", {"path": "evil\u202etxt.exe"}, "error", "U+202E"),
    ("files_write", {"path": ".git/config", "content": "x", "overwrite": True}, "denied", "immutable"),
    ("files_delete", {"path": ".git", "recursive": True}, "denied", "immutable"),
    ("files_read", {"path": "fifo"}, "error", "is a FIFO, not a regular file"),
    ("files_write", {"path": "fifo", "content": "x", "overwrite": True}, "error", "is a FIFO"),
    ("files_edit", {"path": "huge.txt", "edits": EDIT}, "error", "not rewritten"),
    ("files_write", {"path": "big.txt", "content": "x" * (2 * 1024 * 1024)}, "error", "max_argument_bytes"),
    ("files_move", {"source": "plain.txt", "destination": "hl"}, "error", "already exists"),
]


async def test_each_attack_is_refused_and_receipted(setup):
    config, root, outside = setup
    (root / ".git").mkdir()
    (root / ".git/config").write_text("[core]\n")
    os.mkfifo(root / "fifo")
    with open(root / "huge.txt", "w") as f:
        f.write(("0123456789" * 10 + "\n") * 120_000)  # ~12 MiB: over the edit cap
    (root / "plain.txt").write_text("plain\n")
    os.link(outside / "secret.txt", root / "hl")
    before_out = tree_state(outside)
    before_in = {k: v for k, v in tree_state(root).items() if not k.startswith(".tollhouse")}
    async with await Gate.open(config) as gate:
        for tool, args, status, text in ATTEMPTS:
            out = await gate.call(Call(tool, args))
            label = (tool, repr(args)[:60])
            assert out.status == status and text in (out.message or ""), (label, out.status, out.message)
            assert outcome_row(config, out.call_id)["outcome"] == status, label
            assert "TOP-SECRET" not in json.dumps(out.to_json()), label
            assert tree_state(outside) == before_out, label
    after_in = {k: v for k, v in tree_state(root).items() if not k.startswith(".tollhouse")}
    assert after_in == before_in


async def test_hard_link_reads_but_writes_never_reach_outside(setup):
    """Documented behaviour (docs/tools/files.md, Hard links): same inode, so a read sees the content;
    writes replace the directory entry, so the outside name never changes."""
    config, root, outside = setup
    os.link(outside / "secret.txt", root / "hl")
    before = tree_state(outside)
    async with await Gate.open(config) as gate:
        read = await gate.call(Call("files_read", {"path": "hl"}))
        assert read.status == "ok" and read.result["content"] == SECRET
        for tool, args in [
            ("files_write", {"path": "hl", "content": "mine\n", "overwrite": True}),
            ("files_edit", {"path": "hl", "edits": [{"old_text": "mine", "new_text": "ours"}]}),
            ("files_delete", {"path": "hl"}),
        ]:
            out = await gate.call(Call(tool, args))
            assert out.status == "ok", (tool, out.message)
            facts = json.loads(outcome_row(config, out.call_id)["details"])
            assert facts["paths"] == ["hl"], tool
            assert tree_state(outside) == before, tool
    assert (outside / "secret.txt").read_text() == SECRET and not (root / "hl").exists()


async def test_huge_directory_and_file_are_bounded(setup):
    config, root, _ = setup
    big = root / "big"
    big.mkdir()
    for i in range(2500):
        (big / f"f{i:05d}").write_text("x\n")
    with open(root / "huge.txt", "w") as f:
        f.write(("0123456789" * 10 + "\n") * 120_000)
    async with await Gate.open(config) as gate:
        page = await gate.call(Call("files_list", {"path": "big"}))
        assert page.status == "ok" and len(page.result["entries"]) == 500
        assert page.result["next_offset"] == 500
        read = await gate.call(Call("files_read", {"path": "huge.txt", "limit": 100_000}))
        assert read.status == "ok" and read.result["truncated"] and read.result["next_offset"] is not None
        assert len(read.result["content"].encode()) <= 256 * 1024
        hits = await gate.call(Call("files_search", {"pattern": "0123"}))
        assert hits.status == "ok" and hits.result["files_skipped_large"] == 1


async def test_racing_swap_through_the_gate(setup):
    config, root, outside = setup
    (root / "sub").mkdir()
    (root / "sub/file.txt").write_text("inside\n")
    (outside / "file.txt").write_text(SECRET)
    before = tree_state(outside)
    stop, swaps = threading.Event(), [0]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=_swapper, args=(root, outside, stop, swaps), daemon=True)
    thread.start()
    statuses: dict[str, int] = {}
    calls = 0
    try:
        async with await Gate.open(config) as gate:
            while calls < 800 or (swaps[0] < 50 and calls < 3000):
                tool, args = [
                    ("files_read", {"path": "sub/file.txt"}),
                    ("files_write", {"path": "sub/file.txt", "content": "inside\n", "overwrite": True}),
                ][calls % 2]
                out = await gate.call(Call(tool, args))
                calls += 1
                statuses[out.status] = statuses.get(out.status, 0) + 1
                assert out.status in ("ok", "error", "denied"), out.message
                assert "TOP-SECRET" not in json.dumps(out.to_json())
    finally:
        stop.set()
        thread.join(5)
        sys.setswitchinterval(interval)
    assert swaps[0] >= 50, "the swapper must have raced the calls"
    assert statuses.get("ok") and (statuses.get("error") or statuses.get("denied")), statuses
    assert tree_state(outside) == before
    assert receipt_count(config) == calls  # every call, refused or not, left a receipt
