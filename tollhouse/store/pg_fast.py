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

from tollhouse.receipts.verifier import SORTED_FIELDS

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def canonical_select(bounded: bool = False) -> str:
    """``SELECT text, seq, prev_hash, hash FROM receipts ORDER BY seq`` (constant columns); with
    ``bounded``, only ``seq > %s AND seq <= %s``.

    ``row_to_json`` writes a row as ``{"name":value,...}`` with no spaces, in column order: with the
    columns in sorted order that is the canonical JSON, built in one C call per row."""
    inner = ", ".join(f"h.{name}" for name in SORTED_FIELDS)
    return (
        f"SELECT row_to_json(r)::text, h.seq, h.prev_hash, h.hash FROM receipts AS h, "  # noqa: S608
        f"LATERAL (SELECT {inner}) AS r "
        + ("WHERE h.seq > %s AND h.seq <= %s " if bounded else "")
        + "ORDER BY h.seq"
    )


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
        probe = {"a": _PROBE_TEXT, "b": None, "c": -(2**63), "d": ""}
        (got,) = conn.execute(
            "SELECT row_to_json(r)::text FROM (SELECT %s::text AS a, NULL::text AS b, %s::bigint AS c, "
            "''::text AS d) AS r",
            (_PROBE_TEXT, -(2**63)),
        ).fetchone()
        if got != _encode(probe):
            return False
        return True
    except Exception:  # any doubt: the slow path
        return False
