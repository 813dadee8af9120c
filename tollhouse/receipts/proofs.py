"""Proofs a stranger checks offline: one receipt is in the log, an older log is a prefix of a newer one.

A proof file is JSON (``tollhouse-proof/1``):

- inclusion: ``{"format", "type": "inclusion", "entry": {...every field...}, "leaf_index", "tree_size",
  "hashes": [base64...], "checkpoint": <signed note>}``: the entry hashes to a leaf, the audit path
  leads from it to the root the checkpoint signs.
- consistency: ``{"format", "type": "consistency", "old": <note>, "new": <note>, "hashes": [...]}``:
  the tree the old checkpoint signed is a prefix of the one the new checkpoint signs, so nothing in the
  old history was removed or changed (RFC 9162 2.1.4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.merkle import consistency_path, inclusion_path, leaf_hash, root_from_inclusion
from tollhouse.receipts.merkle import verify_consistency as _verify_consistency
from tollhouse.receipts.merkle_store import TreeReader
from tollhouse.receipts.note import NoteError, parse_checkpoint
from tollhouse.receipts.read import connect_readonly
from tollhouse.receipts.schema import COLUMNS, FIELDS, canonical_bytes

FORMAT = "tollhouse-proof/1"
_SELECT_ONE = f"SELECT {COLUMNS} FROM receipts WHERE seq = ?"  # noqa: S608


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in items]


def _note_for(conn: Any, at_least: int, text: str | None) -> tuple[int, str]:
    if text is not None:
        first = text.split("\n", 2)
        if len(first) < 3 or not first[1].isdigit():
            raise ReceiptStoreError("the checkpoint file is not a signed checkpoint note")
        return int(first[1]), text
    row = conn.execute("SELECT size, note FROM notes ORDER BY size DESC LIMIT 1").fetchone()
    if row is None or row[0] < at_least:
        raise ReceiptStoreError(
            f"no signed checkpoint covers receipt {at_least} yet; it is signed at the next checkpoint "
            "(every N entries, on an interval, and when the server exits)"
        )
    return int(row[0]), str(row[1])


def inclusion_proof(db_path: Path | str | Any, seq: int, checkpoint: str | None = None) -> dict[str, Any]:
    """The proof that receipt ``seq`` is in the tree a checkpoint signs (the newest, by default)."""
    conn = connect_readonly(db_path)
    try:
        conn.execute("BEGIN")
        values = conn.execute(_SELECT_ONE, (seq,)).fetchone()
        if values is None:
            raise ReceiptStoreError(f"no receipt with seq {seq}")
        size, note = _note_for(conn, seq, checkpoint)
        if seq > size:
            raise ReceiptStoreError(f"the checkpoint covers {size} receipts; receipt {seq} comes after it")
        path = inclusion_path(seq - 1, size, TreeReader(conn).subtree)
    finally:
        conn.close()
    return {
        "format": FORMAT,
        "type": "inclusion",
        "entry": dict(zip(FIELDS, values, strict=True)),
        "leaf_index": seq - 1,
        "tree_size": size,
        "hashes": _b64(path),
        "checkpoint": note,
    }


def consistency_proof(db_path: Path | str | Any, old: str, new: str | None = None) -> dict[str, Any]:
    """The proof that the tree the ``old`` checkpoint signs is a prefix of the ``new`` one's."""
    conn = connect_readonly(db_path)
    try:
        conn.execute("BEGIN")
        old_size, _ = _note_for(conn, 0, old)
        new_size, new_note = _note_for(conn, old_size, new)
        if old_size > new_size:
            raise ReceiptStoreError(
                f"the older checkpoint covers {old_size} receipts, more than the newest ({new_size}): "
                "the store was truncated"
            )
        path = consistency_path(old_size, new_size, TreeReader(conn).subtree) if old_size else []
    finally:
        conn.close()
    return {"format": FORMAT, "type": "consistency", "old": old, "new": new_note, "hashes": _b64(path)}


def check_proof(proof: Any, public_key: bytes) -> str:
    """Check a proof offline; returns a one-line summary. Raises ValueError saying what failed."""
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} proof")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in proof["hashes"]]
    except (KeyError, TypeError, binascii.Error, ValueError) as exc:
        raise ValueError("the proof's hashes are not a list of base64 hashes") from exc
    try:
        if proof.get("type") == "inclusion":
            return _check_inclusion(proof, hashes, public_key)
        if proof.get("type") == "consistency":
            old = parse_checkpoint(str(proof["old"]), public_key)
            new = parse_checkpoint(str(proof["new"]), public_key)
            if old.origin != new.origin:
                raise ValueError("the two checkpoints are of different logs")
            if old.size == 0 or _verify_consistency(old.size, new.size, old.root, new.root, hashes):
                return f"ok: the log of {old.size} receipts is a prefix of the log of {new.size}"
            raise ValueError(
                f"the log of {new.size} receipts does not extend the one of {old.size}: "
                "the history was rewritten, truncated or forked"
            )
    except NoteError as exc:
        raise ValueError(f"checkpoint: {exc}") from exc
    except KeyError as exc:
        raise ValueError(f"the proof lacks {exc}") from exc
    raise ValueError("unknown proof type (inclusion or consistency)")


def _check_inclusion(proof: dict[str, Any], hashes: list[bytes], public_key: bytes) -> str:
    cp = parse_checkpoint(str(proof["checkpoint"]), public_key)
    entry = proof["entry"]
    if not isinstance(entry, dict) or set(entry) != set(FIELDS):
        raise ValueError("the proof's entry does not hold exactly the receipt fields")
    digest = hashlib.sha256(canonical_bytes({k: v for k, v in entry.items() if k != "hash"})).hexdigest()
    if digest != entry["hash"]:
        raise ValueError(f"receipt {entry.get('seq')} does not match its hash: it was altered")
    index, size = proof["leaf_index"], proof["tree_size"]
    if index != entry["seq"] - 1 or size != cp.size:
        raise ValueError("the proof's leaf index or tree size does not match its entry and checkpoint")
    root = root_from_inclusion(index, size, leaf_hash(bytes.fromhex(digest)), hashes)
    if root != cp.root:
        raise ValueError(f"receipt {entry['seq']} is not in the log the checkpoint signs")
    return f"ok: receipt {entry['seq']} is in the signed log of {size} receipts"


def load_proof(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"cannot read proof {path}: {exc}") from exc
