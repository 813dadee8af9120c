"""Reading receipts: plain synchronous SQLite reads, usable without an open store or its writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import COLUMNS, FIELDS, decode_entry

# Column names are constants of this package, never input: the f-string is safe.
_SELECT = f"SELECT {COLUMNS} FROM receipts"  # noqa: S608


def connect_readonly(db_path: Path | str | Any) -> sqlite3.Connection:
    """A read-only connection; ReceiptStoreError when the file is missing or not a receipt store.

    A ``store.source.ReceiptSource`` opens its own (one log of a PostgreSQL store, same queries)."""
    if hasattr(db_path, "connect"):
        return db_path.connect()  # type: ignore[no-any-return]
    path = Path(db_path)
    if not path.is_file():
        raise ReceiptStoreError(f"no receipt database at {path}; receipts appear after the first gated call")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(receipts)").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise ReceiptStoreError(f"cannot read the receipt database {path}: {exc}") from exc
    if tuple(columns) != FIELDS:
        conn.close()
        raise ReceiptStoreError(f"{path} is not a tollhouse receipt database (no receipts table of ours)")
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [decode_entry(dict(zip(FIELDS, r, strict=True))) for r in conn.execute(sql, params).fetchall()]


def read_receipts(
    db_path: Path | str,
    *,
    limit: int = 20,
    before_seq: int | None = None,
    call_id: str | None = None,
    case_id: str | None = None,
    session: str | None = None,
    tool: str | None = None,
) -> list[dict[str, Any]]:
    """Entries newest first, JSON-text fields decoded, filtered by every argument given."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("call_id", call_id), ("case_id", case_id), ("session", session), ("tool", tool)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if before_seq is not None:
        where.append("seq < ?")
        params.append(before_seq)
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(max(0, int(limit)))
    conn = connect_readonly(db_path)
    try:
        return _rows(conn, sql, tuple(params))
    finally:
        conn.close()


def get_receipt(db_path: Path | str, seq_or_call_id: int | str) -> dict[str, Any] | None:
    """One entry by seq, or the latest entry of a call by call id; None when there is none."""
    conn = connect_readonly(db_path)
    try:
        seq = _as_seq(seq_or_call_id)
        if seq is not None:
            found = _rows(conn, _SELECT + " WHERE seq = ?", (seq,))
            if found:
                return found[0]
        found = _rows(
            conn,
            _SELECT + " WHERE call_id = ? ORDER BY seq DESC LIMIT 1",
            (str(seq_or_call_id),),
        )
        return found[0] if found else None
    finally:
        conn.close()


def get_call(db_path: Path | str, seq_or_call_id: int | str) -> list[dict[str, Any]]:
    """Every entry of one call (intent, outcome, interrupted) oldest first; a seq names its call.

    An entry without a call id (an ``event``) is returned alone.
    """
    entry = get_receipt(db_path, seq_or_call_id)
    if entry is None:
        return []
    if not entry["call_id"]:
        return [entry]
    conn = connect_readonly(db_path)
    try:
        return _rows(conn, _SELECT + " WHERE call_id = ? ORDER BY seq", (entry["call_id"],))
    finally:
        conn.close()


def _as_seq(value: int | str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None
