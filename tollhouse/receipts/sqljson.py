"""Verify's fast path: SQLite writes each row's canonical JSON itself, in C, as it reads the row.

Fetching one text column instead of twenty-six Python objects and encoding them costs about a third
of the slow path. It is only trusted where it provably equals ``verifier._hash``:

- The row is guarded: every column is declared as our DDL declares it (so a TEXT column holds only
  NULL, TEXT or BLOB, and ``json_object`` refuses a BLOB), ``seq`` is an INTEGER and ``duration_us``
  is not REAL. So the values are NULL, INTEGER or TEXT, the types the store writes; for them SQLite's
  ``json_object`` writes what the Python encoder writes: keys in the order given (sorted), integers in
  decimal, NULL as ``null``, and strings with ``"`` and ``\\`` backslashed, ``\\b \\f \\n \\r \\t``,
  other controls as lowercase ``\\u00xx`` and everything else as is. A row outside the guard gets
  NULL, which the caller treats as "not vouched for" (and runs the slow path).
- ``sqlite_agrees`` checks that claim against the SQLite library actually loaded, on every run:
  every ASCII character, NUL, characters from each UTF-8 length, the largest integers, and that text
  which is not UTF-8 comes back byte for byte (so Python's decoding refuses it rather than SQLite
  silently repairing it). Any difference and verify takes the slow path.
- Only a *match* is taken from here. A row whose SQLite text does not hash to its stored hash, or any
  other problem, sends the whole run to the slow path, which decides and explains (``verify.py``).
"""

from __future__ import annotations

import json
import sqlite3

from tollhouse.receipts.schema import FIELDS, INT_FIELDS

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _guard(fields: tuple[str, ...]) -> str:
    # Text columns need no per-row check: ``sqlite_agrees`` requires their declared type TEXT, and a
    # TEXT column holds only NULL, TEXT or BLOB (numbers are stored as text), and ``json_object``
    # refuses a BLOB outright. INTEGER columns may hold REAL (1.5) or text: REAL is let through nowhere.
    checks = ["typeof(seq) = 'integer'"]
    checks += [f"typeof({f}) <> 'real'" for f in fields if f in INT_FIELDS and f != "seq"]
    return " AND ".join(checks)


def canonical_select(fields: tuple[str, ...]) -> str:
    """``SELECT text, seq, prev_hash, hash ... WHERE seq > ? ORDER BY seq``: ``text`` is the row's
    canonical JSON over ``fields`` (sorted names, constants of this package), NULL outside the guard."""
    pairs = ", ".join(f"'{f}', {f}" for f in fields)
    return (
        f"SELECT CASE WHEN {_guard(fields)} THEN json_object({pairs}) END, seq, prev_hash, hash "  # noqa: S608
        "FROM receipts WHERE seq > ? ORDER BY seq"
    )


def _declared_as_ours(conn: sqlite3.Connection) -> bool:
    """Every receipts column has the type our DDL gives it (so its affinity is ours)."""
    columns = [(r[1], str(r[2]).upper()) for r in conn.execute("PRAGMA table_info(receipts)")]
    return columns == [(f, "INTEGER" if f in INT_FIELDS else "TEXT") for f in FIELDS]


_PROBE_TEXT = (
    "".join(map(chr, range(128)))
    + "\u00e9\u00ff\u0100\u07ff\u0800\u20ac\u2028\u2029\ud7ff\ue000\ufeff\ufffd\uffff"
    + "\U00010000\U0001f600\U0010ffff"
)
_PROBE_INTS = (0, -1, 7, 2**53 - 1, -(2**53) + 1, 2**63 - 1, -(2**63))


def sqlite_agrees(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite library's ``json_object`` writes what the Python encoder writes, for the
    values the guard lets through, and passes text that is not UTF-8 through unchanged."""
    try:
        (encoding,) = conn.execute("PRAGMA encoding").fetchone()
        if encoding != "UTF-8":  # UTF-16 text is converted on the way out: judge it on the slow path
            return False
        if not _declared_as_ours(conn):
            return False
        for value in (_PROBE_TEXT, *_PROBE_TEXT, *_PROBE_INTS, None, ""):
            (got,) = conn.execute("SELECT json_object('a', ?, 'b', ?)", (value, value)).fetchone()
            if got != _encode({"a": value, "b": value}):
                return False
        factory = conn.text_factory
        conn.text_factory = bytes
        try:
            (raw,) = conn.execute("SELECT json_object('a', CAST(x'41ff80ed' AS TEXT))").fetchone()
        finally:
            conn.text_factory = factory
        return raw == b'{"a":"A\xff\x80\xed"}'
    except sqlite3.Error:
        return False  # no JSON functions in this build: the slow path
