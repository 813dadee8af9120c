"""Exported bundles: a self-contained JSONL file anyone can verify offline, streamed both ways.

Format ``tollhouse-receipts/2``: line 1 is a header ``{"format", "public_key" (base64 of the raw
Ed25519 key), "key_id", "origin", "count", "checkpoints", "notes"}``; then ``count`` entry objects by
seq (every field, JSON-valued fields kept as the exact text that was hashed); then ``checkpoints`` v1
checkpoint objects (from stores written before v2); then ``notes`` lines ``{"note": <signed note>}``,
the C2SP checkpoints over the Merkle tree, oldest first. Bundles of format ``tollhouse-receipts/1``
(no notes) still verify, but only with ``require_head=False`` unless a v1 checkpoint covers the head.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.note import origin_for
from tollhouse.receipts.read import connect_readonly
from tollhouse.receipts.schema import FIELDS
from tollhouse.receipts.signing import key_id_of, load_public_key, public_key_path
from tollhouse.receipts.verify import (
    _SELECT_CPS,
    _SELECT_ROWS,
    CHECKPOINT_FIELDS,
    SORTED_FIELDS,
    VERIFY_COLUMNS,
    Progress,
    VerifyResult,
    verify_rows,
)

FORMAT = "tollhouse-receipts/2"
FORMATS = ("tollhouse-receipts/1", FORMAT)
_ENTRY_KEYS = frozenset(FIELDS)
_VERIFY_ORDER = VERIFY_COLUMNS.split(", ")
_ORDER = (*SORTED_FIELDS, "hash")
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def _line(obj: dict[str, Any]) -> str:
    return _dumps(obj) + "\n"


def export_bundle(
    db_path: Path | str,
    out_path: Path | str,
    public_key: bytes | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write every entry, checkpoint and note of ``db_path`` to ``out_path``; returns the header.

    One read transaction, rows streamed to the file: memory stays flat whatever the store's size."""
    db_path, out_path = Path(db_path), Path(out_path)
    if public_key is None:
        public_key = load_public_key(public_key_path(db_path.parent))
    conn = connect_readonly(db_path)
    try:
        conn.execute("BEGIN")
        return write_bundle(conn, out_path, public_key, progress)
    finally:
        conn.close()


def write_bundle(
    conn: Any, out_path: Path, public_key: bytes, progress: Progress | None = None
) -> dict[str, Any]:
    """The bundle of the log ``conn`` reads, inside the read transaction the caller holds: any
    connection whose ``execute`` runs these plain SELECTs (SQLite, or a PostgreSQL log's schema)."""
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        count = conn.execute("SELECT count(*) FROM receipts").fetchone()[0]
        cps = [dict(zip(CHECKPOINT_FIELDS, r, strict=True)) for r in conn.execute(_SELECT_CPS)]
        notes = [r[0] for r in conn.execute("SELECT note FROM notes ORDER BY size")]
        key_id = key_id_of(public_key)
        header = {
            "format": FORMAT,
            "public_key": base64.b64encode(public_key).decode("ascii"),
            "key_id": key_id,
            "origin": origin_for(key_id),
            "count": count,
            "checkpoints": len(cps),
            "notes": len(notes),
        }
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(_line(header))
            write = fh.write
            for n, row in enumerate(conn.execute(_SELECT_ROWS), 1):
                write(_line(dict(zip(_VERIFY_ORDER, row, strict=True))))
                if progress is not None and n % 32768 == 0:
                    progress(n, count)
            for cp in cps:
                write(_line(cp))
            for note in notes:
                write(_line({"note": note}))
        if progress is not None:
            progress(count, count)
        os.replace(tmp, out_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReceiptStoreError(f"cannot write the bundle {out_path}: {exc.strerror or exc}") from exc
    return header


class _Bad(Exception):
    def __init__(self, reason: str, seq: int | None = None, count: int = 0) -> None:
        super().__init__(reason)
        self.result = VerifyResult(False, count, 0, seq, reason)


def _lines(path: Path) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8", newline="\n") as fh:
            for line in fh:
                yield line.rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReceiptStoreError(f"cannot read the bundle {path}: {exc}") from exc


def _header(path: Path, public_key: bytes | None) -> tuple[dict[str, Any], bytes]:
    first = next(iter(_lines(path)), None)
    if first is None:
        raise _Bad("the bundle is empty")
    try:
        header = json.loads(first)
    except ValueError:
        raise _Bad("line 1 (the header) is not JSON") from None
    if not isinstance(header, dict) or header.get("format") not in FORMATS:
        raise _Bad(f"line 1 is not a {FORMAT} header")
    try:
        bundle_key = base64.b64decode(str(header.get("public_key")), validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("the header's public_key is not base64") from None
    if len(bundle_key) != 32:
        raise _Bad("the header's public_key is not a 32-byte Ed25519 key")
    if public_key is not None and bundle_key != public_key:
        raise _Bad(
            f"the bundle is signed by key {key_id_of(bundle_key)}, not the expected {key_id_of(public_key)}"
        )
    for name in ("count", "checkpoints") + (("notes",) if header["format"] == FORMAT else ()):
        value = header.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _Bad("the header's count, checkpoints and notes must be non-negative integers")
    return header, bundle_key


def _tail(path: Path, count: int, n_cps: int, n_notes: int) -> tuple[list[dict[str, Any]], list[str]]:
    """First pass: the checkpoints and notes after the entries, and the line count."""
    cps: list[dict[str, Any]] = []
    notes: list[str] = []
    total = 0
    for i, text in enumerate(_lines(path)):
        total = i
        if i <= count:
            continue
        line_no = i + 1
        try:
            obj = json.loads(text)
        except ValueError:
            raise _Bad(f"line {line_no} (a checkpoint) is not valid JSON", None, count) from None
        if i <= count + n_cps:
            if not isinstance(obj, dict) or set(obj) != set(CHECKPOINT_FIELDS):
                raise _Bad(f"line {line_no} is not a checkpoint object", None, count)
            cps.append(obj)
        else:
            if not isinstance(obj, dict) or set(obj) != {"note"} or not isinstance(obj["note"], str):
                raise _Bad(f"line {line_no} is not a note object", None, count)
            notes.append(obj["note"])
    if total != count + n_cps + n_notes:
        raise _Bad(
            f"the header announces {count} entries, {n_cps} checkpoints and {n_notes} notes but the bundle "
            f"has {total} lines after it: lines were removed or added",
            min(count, total) + 1,
            count,
        )
    return cps, notes


def _entries(path: Path, count: int) -> Iterator[tuple[Any, ...]]:
    lines = _lines(path)
    next(lines)
    for i, text in enumerate(lines):
        if i >= count:
            return
        try:
            obj = json.loads(text)
        except ValueError:
            raise _Bad(f"line {i + 2} (entry {i + 1}) is not valid JSON", i + 1, count) from None
        if not isinstance(obj, dict) or obj.keys() != _ENTRY_KEYS:
            raise _Bad(f"line {i + 2} (entry {i + 1}) does not hold exactly the receipt fields", i + 1, count)
        yield tuple(obj[k] for k in _ORDER)


def verify_bundle(
    path: Path | str,
    public_key: bytes | None = None,
    *,
    require_head: bool = True,
    anchors: Iterable[tuple[str, str]] = (),
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify an exported bundle using only its own contents, a pinned key and ``anchors``."""
    path = Path(path)
    try:
        header, bundle_key = _header(path, public_key)
        count = header["count"]
        cps, notes = _tail(path, count, header["checkpoints"], header.get("notes", 0))
        return verify_rows(
            _entries(path, count),
            bundle_key,
            notes=notes,
            v1_checkpoints=cps,
            anchors=anchors,
            require_head=require_head,
            progress=progress,
            total=count,
        )
    except _Bad as bad:
        return bad.result
