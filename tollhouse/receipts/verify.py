"""Verifying a chain of receipts and its signed checkpoints.

``first_bad_seq`` is the first seq verification cannot vouch for; everything before it is intact.
What each check catches:

- an entry edited in place: its hash no longer matches its contents;
- an edited entry whose hash was recomputed: the next entry's ``prev_hash`` no longer matches it;
- a deleted entry: a gap in seq (or, renumbered, an entry that hashes only under its old seq);
- an inserted entry: the entry after it hashes only under its old seq and links past it;
- reordered entries: an entry hashes only under another seq;
- a whole tail re-hashed after an edit: the signed checkpoint's head no longer matches;
- a truncated tail: a checkpoint signs a head beyond the end of the chain;
- a forged or edited checkpoint: its Ed25519 signature does not verify.

An attacker who can write the database can still rewrite entries after the last checkpoint and delete
checkpoints; keep an exported bundle (or the latest checkpoint) elsewhere to pin the history.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.read import connect_readonly
from tollhouse.receipts.schema import HASHED_FIELDS, ZERO_HASH
from tollhouse.receipts.signing import (
    key_id_of,
    load_public_key,
    public_key_path,
    verify_checkpoint_signature,
)

# Rows are read with their columns already in sorted-key order: the encoder then skips sorting.
SORTED_FIELDS: tuple[str, ...] = tuple(sorted(HASHED_FIELDS))
VERIFY_COLUMNS = ", ".join((*SORTED_FIELDS, "hash"))
_SEQ = SORTED_FIELDS.index("seq")
_PREV = SORTED_FIELDS.index("prev_hash")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
CHECKPOINT_FIELDS = ("seq", "head_hash", "time", "key_id", "signature")
# Column lists are constants of this package, never input.
_SELECT_ROWS = f"SELECT {VERIFY_COLUMNS} FROM receipts ORDER BY seq"  # noqa: S608
_SELECT_CPS = f"SELECT {', '.join(CHECKPOINT_FIELDS)} FROM checkpoints ORDER BY seq"  # noqa: S608


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    checkpoints: int
    first_bad_seq: int | None = None
    reason: str | None = None
    key_id: str | None = None
    last_checkpoint_seq: int | None = None
    """Entries after this seq are protected by the hash chain only, not yet by a signature."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _hash(values: Sequence[Any]) -> str | None:
    """Hash of a row in SORTED_FIELDS order; extra trailing values (the stored hash) are ignored.

    None when the values cannot have been written by the store (NaN, undecodable text): the caller
    reports a mismatch. ``surrogatepass`` keeps undecodable bytes distinct from any valid string.
    """
    try:
        text = _encode(dict(zip(SORTED_FIELDS, values, strict=False)))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    except (ValueError, TypeError):
        return None


def _matches(values: Sequence[Any], stored: Any) -> bool:
    computed = _hash(values)
    return computed is not None and computed == stored


def _with_seq(row: Sequence[Any], seq: int) -> list[Any]:
    values = list(row[:-1])
    values[_SEQ] = seq
    return values


def _diagnose(rows: Sequence[Sequence[Any]], i: int) -> tuple[int, str]:
    """Why row i (expected seq i+1) does not match its own hash."""
    row = rows[i]
    seq = i + 1
    if _matches(_with_seq(row, seq + 1), row[-1]):
        return seq, (
            f"entry {seq} was written as seq {seq + 1}: an entry was removed or entries were reordered, "
            "and the rest renumbered"
        )
    if seq > 1 and _matches(_with_seq(row, seq - 1), row[-1]):
        if seq > 2 and row[_PREV] == rows[i - 2][-1]:
            return seq - 1, (
                f"entry {seq - 1} was inserted: entry {seq} was written as seq {seq - 1} and links to "
                f"entry {seq - 2}"
            )
        return seq, f"entry {seq} was written as seq {seq - 1}: entries were reordered or renumbered"
    return seq, f"entry {seq} does not match its hash: it was altered after it was written"


def verify_chain(
    rows: Sequence[Sequence[Any]],
    checkpoints: Sequence[dict[str, Any]],
    public_key: bytes | None,
) -> VerifyResult:
    """Check rows (columns in ``VERIFY_COLUMNS`` order, by seq) and checkpoints against a public key."""
    problems: list[tuple[int, str]] = []
    prev = ZERO_HASH
    intact = len(rows)  # entries 1..intact passed the chain checks
    for i, row in enumerate(rows):
        seq = row[_SEQ]
        if seq != i + 1:
            problems.append((i + 1, f"entry {i + 1} is missing (the entry after {i} is seq {seq!r})"))
            intact = i
            break
        if not _matches(row, row[-1]):  # zip stops before the trailing hash column
            problems.append(_diagnose(rows, i))
            intact = i
            break
        if row[_PREV] != prev:
            if seq == 1:
                problems.append((1, "entry 1 does not start the chain (its prev_hash is not 64 zeros)"))
            else:
                problems.append(
                    (
                        seq - 1,
                        f"entry {seq - 1} does not hash to the value entry {seq} recorded for it: entry "
                        f"{seq - 1} was altered and re-hashed (or entry {seq} was re-linked)",
                    )
                )
            intact = i
            break
        prev = row[-1]

    key_id = key_id_of(public_key) if public_key is not None else None
    last_good = 0
    for cp in sorted(checkpoints, key=lambda c: c.get("seq") if isinstance(c.get("seq"), int) else -1):
        cseq = cp.get("seq")
        if not isinstance(cseq, int) or cseq < 1:
            problems.append((1, f"a checkpoint has an invalid seq {cseq!r}"))
            continue
        if public_key is None:
            problems.append((cseq, f"checkpoint at seq {cseq} cannot be checked: no public key"))
            continue
        if cp.get("key_id") != key_id:
            problems.append(
                (
                    cseq,
                    f"checkpoint at seq {cseq} names key {cp.get('key_id')!r}, not this store's key {key_id}",
                )
            )
            continue
        if not verify_checkpoint_signature(public_key, cp):
            problems.append(
                (cseq, f"checkpoint at seq {cseq}: the signature does not verify (forged or edited)")
            )
            continue
        if cseq > len(rows):
            problems.append(
                (
                    len(rows) + 1,
                    f"the chain ends at seq {len(rows)} but a signed checkpoint covers seq {cseq}: "
                    f"entries {len(rows) + 1}..{cseq} were removed",
                )
            )
            continue
        if cseq > intact:
            continue  # already reported by the chain checks above
        if rows[cseq - 1][-1] != cp.get("head_hash"):
            problems.append(
                (
                    last_good + 1,
                    f"checkpoint at seq {cseq} signed head {str(cp.get('head_hash'))[:16]}…, but the chain "
                    f"has {rows[cseq - 1][-1][:16]}… there: an entry in {last_good + 1}..{cseq} was altered "
                    "and the chain re-hashed",
                )
            )
            continue
        last_good = max(last_good, cseq)

    if problems:
        seq, reason = min(problems, key=lambda p: p[0])
        return VerifyResult(False, len(rows), len(checkpoints), seq, reason, key_id, last_good or None)
    return VerifyResult(True, len(rows), len(checkpoints), None, None, key_id, last_good or None)


def read_for_verify(db_path: Path) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Entries and checkpoints from one consistent snapshot of the database."""
    try:
        return _read_snapshot(db_path, None)
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc):
            raise ReceiptStoreError(f"cannot read the receipt database {db_path}: {exc}") from exc
    # Someone stored bytes that are not UTF-8: read them losslessly so the hash check reports the entry.
    return _read_snapshot(db_path, lambda b: b.decode("utf-8", "surrogateescape"))


def _read_snapshot(
    db_path: Path, text_factory: Callable[[bytes], str] | None
) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    conn = connect_readonly(db_path)
    if text_factory is not None:
        conn.text_factory = text_factory
    try:
        conn.execute("BEGIN")  # one read transaction: a concurrent writer cannot split the snapshot
        rows = conn.execute(_SELECT_ROWS).fetchall()
        cps = [dict(zip(CHECKPOINT_FIELDS, r, strict=True)) for r in conn.execute(_SELECT_CPS)]
        conn.execute("COMMIT")
    finally:
        conn.close()
    return rows, cps


def verify_db(db_path: Path | str, public_key: bytes | None = None) -> VerifyResult:
    """Verify a receipt database. Without ``public_key`` the key in ``<state_dir>/keys/`` is used;
    pass a key kept elsewhere to pin it (someone who can rewrite the database may replace that file).
    """
    db_path = Path(db_path)
    rows, cps = read_for_verify(db_path)
    if public_key is None:
        pub = public_key_path(db_path.parent)
        if pub.exists():
            public_key = load_public_key(pub)
        elif cps:
            raise ReceiptStoreError(f"public key {pub} is missing; pass the store's public key to verify")
    return verify_chain(rows, cps, public_key)
