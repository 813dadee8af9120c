"""Read-only view of the receipts table for case files and interrupted handoffs.

The receipts store owns ``receipts.db``; this module only reads it (``mode=ro``), by the columns the
store documents: seq, kind, call_id, time, tool, case_id, session, outcome, decision, rules, message.
``time`` may be stored as Unix seconds or an ISO 8601 string; both are understood.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tollhouse.state.db import StateError

COLUMNS = (
    "seq",
    "kind",
    "call_id",
    "time",
    "tool",
    "case_id",
    "session",
    "outcome",
    "decision",
    "rules",
    "message",
)
# Receipts that are not tool calls (resource reads and other events) do not make a case "worked on".
NON_CALL_TOOLS = ("case_handoff",)


def to_epoch(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class ReceiptRow:
    seq: int
    kind: str | None
    call_id: str | None
    time: float
    tool: str | None
    case_id: str | None
    session: str | None
    outcome: str | None
    decision: str | None
    rules: str | None
    message: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def connect_ro(path: Path) -> sqlite3.Connection | None:
    """A read-only connection, or None when there is no receipts database yet."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        have = {r[1] for r in conn.execute("PRAGMA table_info(receipts)")}
    except sqlite3.DatabaseError as exc:
        raise StateError(f"receipts database {path} cannot be read ({exc}); run `tollhouse verify`") from exc
    if not have:
        conn.close()
        return None
    missing = [c for c in COLUMNS if c not in have]
    if missing:
        conn.close()
        raise StateError(f"receipts database {path} lacks columns {missing}; is tollhouse up to date?")
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[ReceiptRow]:
    out = []
    for r in conn.execute(sql, params):
        values = dict(zip(COLUMNS, r, strict=True))
        values["time"] = to_epoch(values["time"])
        out.append(ReceiptRow(**values))
    return out


def case_calls(
    conn: sqlite3.Connection,
    case_id: str | None,
    *,
    session: str | None = None,
    after_seq: int = 0,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[ReceiptRow]:
    """Outcome-bearing receipts (one per finished call) plus intents of calls that never finished."""
    where = ["seq > ?"]
    params: list[Any] = [after_seq]
    if case_id is not None:
        where.append("case_id = ?")
        params.append(case_id)
    if session is not None:
        where.append("session = ?")
        params.append(session)
    cond = " AND ".join(where)
    # One row per call: its last receipt (the outcome if written, else the intent).
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM receipts WHERE seq IN ("  # noqa: S608 -- placeholders and fixed column names only
        f"SELECT max(seq) FROM receipts WHERE {cond} GROUP BY coalesce(call_id, 'seq:' || seq)) "
        f"ORDER BY seq {'DESC' if newest_first else 'ASC'}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return _rows(conn, sql, params)


def case_summary(conn: sqlite3.Connection, case_id: str) -> dict[str, Any]:
    """Counts per tool and outcome over the whole case, for the case file."""
    counts: dict[str, dict[str, int]] = {}
    total = 0
    sql = (
        "SELECT tool, coalesce(outcome, 'unfinished'), count(*) FROM receipts WHERE seq IN ("
        "SELECT max(seq) FROM receipts WHERE case_id = ? GROUP BY coalesce(call_id, 'seq:' || seq)) "
        "GROUP BY 1, 2"
    )
    for tool, outcome, n in conn.execute(sql, (case_id,)):
        counts.setdefault(tool or "(event)", {})[outcome] = n
        total += n
    first_last = conn.execute(
        "SELECT min(time), max(time) FROM receipts WHERE case_id = ?", (case_id,)
    ).fetchone()
    return {
        "calls": total,
        "by_tool": counts,
        "first": to_epoch(first_last[0]) if first_last[0] is not None else None,
        "last": to_epoch(first_last[1]) if first_last[1] is not None else None,
    }
