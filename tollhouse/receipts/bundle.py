"""Exported bundles: a self-contained JSONL file anyone can verify offline.

Line 1 is a header ``{"format": "tollhouse-receipts/1", "public_key": <base64 raw Ed25519 key>,
"key_id", "count", "checkpoints"}``; then ``count`` entry objects by seq (every field, JSON-valued
fields kept as the exact text that was hashed); then ``checkpoints`` checkpoint objects
``{"seq", "head_hash", "time", "key_id", "signature"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import FIELDS
from tollhouse.receipts.signing import key_id_of, load_public_key, public_key_path
from tollhouse.receipts.verify import (
    CHECKPOINT_FIELDS,
    SORTED_FIELDS,
    VERIFY_COLUMNS,
    VerifyResult,
    read_for_verify,
    verify_chain,
)

FORMAT = "tollhouse-receipts/1"
_ENTRY_KEYS = frozenset(FIELDS)
_VERIFY_ORDER = VERIFY_COLUMNS.split(", ")


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def export_bundle(
    db_path: Path | str, out_path: Path | str, public_key: bytes | None = None
) -> dict[str, Any]:
    """Write every entry and checkpoint of ``db_path`` to ``out_path``; returns the header."""
    db_path, out_path = Path(db_path), Path(out_path)
    rows, cps = read_for_verify(db_path)
    if public_key is None:
        public_key = load_public_key(public_key_path(db_path.parent))
    header = {
        "format": FORMAT,
        "public_key": base64.b64encode(public_key).decode("ascii"),
        "key_id": key_id_of(public_key),
        "count": len(rows),
        "checkpoints": len(cps),
    }
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(_line(header))
            for row in rows:
                fh.write(_line(dict(zip(_VERIFY_ORDER, row, strict=True))))
            for cp in cps:
                fh.write(_line(cp))
        os.replace(tmp, out_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReceiptStoreError(f"cannot write the bundle {out_path}: {exc.strerror or exc}") from exc
    return header


def _fail(reason: str, seq: int | None = None, count: int = 0) -> VerifyResult:
    return VerifyResult(False, count, 0, seq, reason)


def verify_bundle(path: Path | str, public_key: bytes | None = None) -> VerifyResult:
    """Verify an exported bundle using only its own contents (and, if given, a pinned public key)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReceiptStoreError(f"cannot read the bundle {path}: {exc}") from exc
    if not lines:
        return _fail("the bundle is empty")
    try:
        header = json.loads(lines[0])
    except ValueError:
        return _fail("line 1 (the header) is not JSON")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return _fail(f"line 1 is not a {FORMAT} header")
    try:
        bundle_key = base64.b64decode(str(header.get("public_key")), validate=True)
    except (binascii.Error, ValueError):
        return _fail("the header's public_key is not base64")
    if len(bundle_key) != 32:
        return _fail("the header's public_key is not a 32-byte Ed25519 key")
    if public_key is not None and bundle_key != public_key:
        return _fail(
            f"the bundle is signed by key {key_id_of(bundle_key)}, not the expected {key_id_of(public_key)}"
        )
    count, n_cps = header.get("count"), header.get("checkpoints")
    if not isinstance(count, int) or not isinstance(n_cps, int) or count < 0 or n_cps < 0:
        return _fail("the header's count and checkpoints must be non-negative integers")
    body = lines[1:]
    if len(body) != count + n_cps:
        return _fail(
            f"the header announces {count} entries and {n_cps} checkpoints but the bundle has {len(body)} "
            "lines after it: lines were removed or added",
            min(count, len(body)) + 1,
            count,
        )
    rows: list[tuple[Any, ...]] = []
    for i, text in enumerate(body[:count]):
        try:
            obj = json.loads(text)
        except ValueError:
            return _fail(f"line {i + 2} (entry {i + 1}) is not valid JSON", i + 1, count)
        if not isinstance(obj, dict) or obj.keys() != _ENTRY_KEYS:
            return _fail(
                f"line {i + 2} (entry {i + 1}) does not hold exactly the receipt fields", i + 1, count
            )
        rows.append(tuple(obj[k] for k in (*SORTED_FIELDS, "hash")))
    cps: list[dict[str, Any]] = []
    for j, text in enumerate(body[count:]):
        line_no = count + j + 2
        try:
            obj = json.loads(text)
        except ValueError:
            return _fail(f"line {line_no} (a checkpoint) is not valid JSON", None, count)
        if not isinstance(obj, dict) or set(obj) != set(CHECKPOINT_FIELDS):
            return _fail(f"line {line_no} is not a checkpoint object", None, count)
        cps.append(obj)
    return verify_chain(rows, cps, bundle_key)
