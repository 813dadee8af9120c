"""Verify's fast path on PostgreSQL: the server writes each row's canonical JSON as it reads it.

The same idea as ``receipts/sqljson.py`` for SQLite. ``to_json(text)::text`` escapes exactly what
Python's encoder escapes (``"`` and ``\\``, ``\\b \\f \\n \\r \\t``, other controls as lowercase
``\\u00xx``, everything else as is) and a BIGINT prints in decimal as Python's ``int`` does, so the
concatenation below is the entry's canonical JSON. ``pg_agrees`` checks that claim against the
server actually connected, on every run; anything else sends verify to the slow path, which decides
and explains. Only a match is taken from here.
"""

from __future__ import annotations

import json
from typing import Any

from tollhouse.receipts.schema import INT_FIELDS
from tollhouse.receipts.verifier import SORTED_FIELDS

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _value(name: str) -> str:
    if name in INT_FIELDS:
        return f"coalesce({name}::text, 'null')"
    return f"coalesce(to_json({name})::text, 'null')"


def canonical_select() -> str:
    """``SELECT text, seq, prev_hash, hash FROM receipts ORDER BY seq`` (constant columns)."""
    parts = " || ',' || ".join(f"'\"{name}\":' || {_value(name)}" for name in SORTED_FIELDS)
    return f"SELECT '{{' || {parts} || '}}', seq, prev_hash, hash FROM receipts ORDER BY seq"  # noqa: S608


_PROBE_TEXT = (
    "".join(map(chr, range(1, 128)))  # PostgreSQL text holds no NUL
    + "\u00e9\u00ff\u0100\u07ff\u0800\u20ac\u2028\u2029\ud7ff\ue000\ufeff\ufffd\uffff"
    + "\U00010000\U0001f600\U0010ffff"
)
_PROBE_INTS = (0, -1, 7, 2**53 - 1, -(2**53) + 1, 2**63 - 1, -(2**63))


def pg_agrees(conn: Any) -> bool:
    """Whether this server writes what the Python encoder writes, for every value a row can hold."""
    try:
        if conn.execute("SHOW server_encoding").fetchone()[0] != "UTF8":
            return False
        for text in (_PROBE_TEXT, *_PROBE_TEXT, ""):
            (got,) = conn.execute("SELECT to_json(%s::text)::text", (text,)).fetchone()
            if got != _encode(text):
                return False
        for number in _PROBE_INTS:
            (got,) = conn.execute("SELECT %s::bigint::text", (number,)).fetchone()
            if got != _encode(number):
                return False
        return True
    except Exception:  # any doubt: the slow path
        return False
