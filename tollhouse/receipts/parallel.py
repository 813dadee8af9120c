"""Verify's fast path over both cores: this process checks the first half of the entries while a
second process (``hash_range.py``) checks the second half; the halves are then joined (the link
between them, the Merkle tree, the checkpoints in the second half). The second process sends back
compact ranges (O(log n) hashes per checkpoint), not its leaves: memory stays flat at any size.
Small stores, one-core machines and any doubt stay in this process; any problem at all sends
``verify.py`` to the slow path.

The second process reads its half in its own read transaction, which starts a moment after this
one: an append made meanwhile lies after the range it checks, so it sees the same entries. Someone
editing the database while it is being verified can make the two halves see different moments;
each half is still checked in full, so a store that passes held together at every moment read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tollhouse.receipts.sqljson import canonical_select
from tollhouse.receipts.verifier import SORTED_FIELDS, Verifier

PARALLEL_MIN = 100_000
"""Entries below which a second process costs more than it saves (it starts in about 40 ms)."""
_SELECT = canonical_select(SORTED_FIELDS)
_SELECT_RANGE = _SELECT.replace("WHERE seq > ?", "WHERE seq > ? AND seq <= ?")
_WORKER = Path(__file__).with_name("hash_range.py")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on, not the machine's
    except AttributeError:
        return os.cpu_count() or 1


def feed_fast(
    conn: sqlite3.Connection,
    db_path: Path,
    v: Verifier,
    since: int,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> bool:
    """Feed every entry after ``since`` to ``v`` on the fast path; False when it cannot vouch."""
    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()
    n = last - since if isinstance(last, int) else 0
    if n < PARALLEL_MIN or _cpus() < 2:
        return v.feed_canonical(conn.execute(_SELECT, (since,)), progress, total)
    mid = since + n // 2
    uri = f"{db_path.resolve().as_uri()}?mode=ro"
    try:  # the same interpreter, so the same SQLite library sqlite_agrees checked
        child = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_WORKER), uri, _SELECT_RANGE, str(mid + 1), str(last)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:  # no interpreter to start (embedded, or out of processes): one process it is
        return v.feed_canonical(conn.execute(_SELECT, (since,)), progress, total)
    try:
        assert child.stdin is not None and child.stdout is not None
        try:  # the checkpoint sizes it must report the tree at; it reads them before anything else
            child.stdin.write(" ".join(str(s) for s in v.expects if mid < s <= last).encode())
            child.stdin.close()
        except OSError:
            return False
        ok = v.feed_canonical(conn.execute(_SELECT_RANGE, (since, mid)), progress, total) and v.count == mid
        out = child.stdout.read() if ok else b""
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if not ok or child.returncode != 0 or out[:1] != b"{":
        return False
    try:
        part = json.loads(out)
    except ValueError:
        return False
    if not v.join_range(part, last):
        return False
    if progress is not None:
        progress(v.count, total)
    return True
