"""Verifying receipts: every entry's hash and link, the Merkle root at every signed checkpoint.

Rows stream through ``Verifier`` one at a time (constant memory: a compact Merkle range and the last
two hashes). ``first_bad_seq`` is the first seq verification cannot vouch for. What each check catches:

- an entry edited in place: its hash no longer matches its contents;
- an edited entry whose hash was recomputed: the next entry's ``prev_hash`` no longer matches it;
- a deleted, inserted or reordered entry: a gap in seq, or an entry that hashes only under another seq;
- a whole tail re-hashed after an edit: a signed checkpoint's Merkle root no longer matches;
- a history rewritten from seq 1 with every checkpoint dropped: no signed checkpoint covers the head
  (``require_head``, on by default);
- a truncated tail (its checkpoints dropped too) or a fork: an older checkpoint the verifier holds
  (``anchors``) or a witness's copy covers more entries, or another root, than the store has;
- a forged, edited or re-keyed checkpoint: its Ed25519 signature does not verify under the pinned key.

What it cannot catch: someone holding the signing key can sign any history; entries after the last
checkpoint are only chained until the next one is signed (the server signs at exit, on an interval and
every N entries); without a pinned key or a witness, a replaced key file re-signs a forgery.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.parallel import feed_fast
from tollhouse.receipts.read import connect_readonly
from tollhouse.receipts.signing import load_public_key, public_key_path
from tollhouse.receipts.sqljson import sqlite_agrees
from tollhouse.receipts.verifier import SORTED_FIELDS, VERIFY_COLUMNS, Verifier, VerifyResult

__all__ = ["SORTED_FIELDS", "VERIFY_COLUMNS", "Verifier", "VerifyResult", "verify_db", "verify_rows"]

CHECKPOINT_FIELDS = ("seq", "head_hash", "time", "key_id", "signature")
# Column lists are constants of this package, never input.
_SELECT_ROWS = f"SELECT {VERIFY_COLUMNS} FROM receipts ORDER BY seq"  # noqa: S608
_SELECT_ROWS_AFTER = f"SELECT {VERIFY_COLUMNS} FROM receipts WHERE seq > ? ORDER BY seq"  # noqa: S608
_SELECT_CPS = f"SELECT {', '.join(CHECKPOINT_FIELDS)} FROM checkpoints ORDER BY seq"  # noqa: S608
PROGRESS_EVERY = 1 << 15

Progress = Callable[[int, int], None]


def _verifier(
    public_key: bytes | None,
    require_head: bool,
    notes: Iterable[str],
    v1_checkpoints: Iterable[dict[str, Any]],
    anchors: Iterable[tuple[str, str]],
    resume: dict[str, Any] | None,
) -> Verifier:
    v = Verifier(public_key, require_head)
    if resume is not None:
        v.resume(resume)
    for text in notes:
        v.add_note(text)
    for cp in v1_checkpoints:
        v.add_v1_checkpoint(cp)
    for label, text in anchors:
        v.add_note(text, label, anchor=True)
    return v


def verify_rows(
    rows: Iterable[Sequence[Any]],
    public_key: bytes | None,
    *,
    notes: Iterable[str] = (),
    v1_checkpoints: Iterable[dict[str, Any]] = (),
    anchors: Iterable[tuple[str, str]] = (),
    require_head: bool = True,
    progress: Progress | None = None,
    total: int = 0,
    resume: dict[str, Any] | None = None,
) -> VerifyResult:
    """Check rows against the signed checkpoints (``notes``, v1 ``checkpoints``) and ``anchors``
    (``(label, note text)``: older checkpoints and witness copies held outside the store)."""
    v = _verifier(public_key, require_head, notes, v1_checkpoints, anchors, resume)
    feed = v.feed
    if progress is None:
        for row in rows:
            feed(row)
    else:
        for n, row in enumerate(rows, 1):
            feed(row)
            if n % PROGRESS_EVERY == 0:
                progress(n, total)
        progress(v.count, total)
    return v.finish()


def verify_db(
    db_path: Path | str,
    public_key: bytes | None = None,
    *,
    require_head: bool = True,
    anchors: Iterable[tuple[str, str]] = (),
    progress: Progress | None = None,
    resume: dict[str, Any] | None = None,
) -> VerifyResult:
    """Verify a receipt database, streaming its rows. Without ``public_key`` the key file next to
    the store is used; pass a key kept elsewhere to pin it (whoever can rewrite the database may
    replace that file).

    ``resume`` is the ``state`` of an earlier ok result, kept where the agent cannot write: only
    the entries after it are read, and the checkpoints over them are checked against the tree the
    earlier run computed (so an old entry rewritten since shows as a mismatch at the next
    checkpoint). Edits to old entries that no later checkpoint covers are left to a full run."""
    db_path = Path(db_path)
    anchors = list(anchors)
    if public_key is None:
        pub = public_key_path(db_path.parent)
        if pub.exists():
            public_key = load_public_key(pub)
    try:
        return _verify_snapshot(db_path, public_key, require_head, anchors, progress, None, resume)
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc):
            raise ReceiptStoreError(f"cannot read the receipt database {db_path}: {exc}") from exc
    # Someone stored bytes that are not UTF-8: read them losslessly so the hash check reports the entry.
    return _verify_snapshot(
        db_path,
        public_key,
        require_head,
        anchors,
        progress,
        lambda b: b.decode("utf-8", "surrogateescape"),
        resume,
    )


def _verify_snapshot(
    db_path: Path,
    public_key: bytes | None,
    require_head: bool,
    anchors: list[tuple[str, str]],
    progress: Progress | None,
    text_factory: Callable[[bytes], str] | None,
    resume: dict[str, Any] | None = None,
) -> VerifyResult:
    conn = connect_readonly(db_path)
    if text_factory is not None:
        conn.text_factory = text_factory
    try:
        conn.execute("BEGIN")  # one read transaction: a concurrent writer cannot split the snapshot
        since = int(resume["size"]) if resume else 0
        notes = (
            [r[0] for r in conn.execute("SELECT note FROM notes WHERE size > ? ORDER BY size", (since,))]
            if _has(conn, "notes")
            else []
        )
        cps = [dict(zip(CHECKPOINT_FIELDS, r, strict=True)) for r in conn.execute(_SELECT_CPS)]
        cps = [c for c in cps if not isinstance(c["seq"], int) or c["seq"] > since]
        total = conn.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()[0] if progress else 0
        if text_factory is None and sqlite_agrees(conn):
            v = _verifier(public_key, require_head, notes, cps, anchors, resume)
            try:
                vouched = feed_fast(conn, db_path, v, since, progress, total)
            except sqlite3.Error:  # a BLOB json_object refuses, text that is not UTF-8: not vouched for
                vouched = False
            if vouched:
                fast = v.finish()
                if fast.ok:
                    return fast
            # Something is wrong: the slow path below reads the same snapshot again and explains it.
        return verify_rows(
            conn.execute(_SELECT_ROWS_AFTER, (since,)),
            public_key,
            notes=notes,
            v1_checkpoints=cps,
            anchors=anchors,
            require_head=require_head,
            progress=progress,
            total=total,
            resume=resume,
        )
    finally:
        conn.close()


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        is not None
    )


def read_for_verify(db_path: Path) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Entries and v1 checkpoints in memory (small stores and tests only; verify streams)."""
    conn = connect_readonly(db_path)
    try:
        conn.execute("BEGIN")
        rows = conn.execute(_SELECT_ROWS).fetchall()
        cps = [dict(zip(CHECKPOINT_FIELDS, r, strict=True)) for r in conn.execute(_SELECT_CPS)]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return rows, cps
