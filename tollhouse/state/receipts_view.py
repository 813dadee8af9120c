"""Read-only view of the receipts table for case files and interrupted handoffs.

The receipts store owns ``receipts.db``; this module only reads it (``mode=ro``), by the columns the
store documents: seq, kind, call_id, time, tool, case_id, session, outcome, decision, rules, message.
``time`` may be stored as Unix seconds or an ISO 8601 string; both are understood.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
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
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM receipts"  # noqa: S608 -- fixed column names
_COUNT = "SELECT count(DISTINCT coalesce(call_id, 'seq:' || seq)) FROM receipts"
_NOT_WORK = f"kind != 'event' AND tool NOT IN ({','.join(repr(t) for t in NON_CALL_TOOLS)})"


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


def connect_ro(path: Any) -> sqlite3.Connection | None:
    """A read-only connection, or None when there is no receipts database yet. A
    ``store.source.ReceiptSource`` opens its own: on PostgreSQL, one log read with the same queries."""
    if getattr(path, "url", None) is not None:
        from tollhouse.receipts.errors import ReceiptStoreError
        from tollhouse.store.source import LogMissing

        try:
            return path.connect()  # type: ignore[no-any-return]
        except LogMissing:  # this server has written nothing yet
            return None
        except ReceiptStoreError as exc:
            raise StateError(str(exc)) from exc
    path = Path(getattr(path, "path", path))
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
    missing = [c for c in (*COLUMNS, "args_digest", "arguments") if c not in have]
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


def iso(t: float) -> str:
    """Unix seconds in the receipts store's time format (RFC 3339, microseconds, UTC), which sorts
    as text, so time comparisons run inside SQLite on the stored strings."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def recent_calls(conn: sqlite3.Connection, case_id: str, limit: int) -> list[ReceiptRow]:
    """The last ``limit`` calls on a case, newest first, each as its latest receipt."""
    rows = _rows(
        conn,
        _SELECT + " WHERE case_id = ? ORDER BY seq DESC LIMIT ?",
        [case_id, limit * 3],
    )
    seen: set[str] = set()
    out: list[ReceiptRow] = []
    for r in rows:
        key = r.call_id or f"seq:{r.seq}"
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out[:limit]


def first_seq_after(conn: sqlite3.Connection, t: float) -> int:
    """The first seq whose time is after ``t`` (max seq + 1 when none), by binary search on seq.

    Receipts are appended in seq order with the store's clock, and never deleted, so time grows with
    seq; ~17 point lookups find the boundary in 100,000 receipts instead of scanning their times.
    """
    lo, hi = conn.execute("SELECT min(seq), max(seq) FROM receipts").fetchone()
    if lo is None:
        return 1
    target = iso(t)
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(
            "SELECT seq, time FROM receipts WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,)
        ).fetchone()
        if row is None or row[1] > target:
            hi = mid
        else:
            lo = row[0] + 1
    return lo


@dataclass(frozen=True)
class AskedApproval:
    """A ``needs_approval`` receipt that no later receipt of the same call has answered."""

    row: ReceiptRow
    args_digest: str | None
    arguments: Any  # the redacted arguments as stored, for matching grants' argument globs


# A call that needed approval is answered when the same tool with the same arguments (args_digest) is
# received again: run after a grant or an approval (intent, outcome), declined (denied), or asked
# again (a newer needs_approval stands for both). Any case counts: a retry may not repeat the case.
_OPEN_ASKS = (
    f"SELECT {', '.join(COLUMNS)}, args_digest, arguments FROM receipts r "  # noqa: S608 -- fixed column names
    "WHERE case_id = ? AND seq >= ? AND outcome = 'needs_approval' AND NOT EXISTS ("
    "SELECT 1 FROM receipts later WHERE later.seq > r.seq AND later.tool = r.tool "
    "AND later.args_digest = r.args_digest AND later.kind != 'event') "
    "ORDER BY seq DESC LIMIT ?"
)


def since_handoff(
    conn: sqlite3.Connection, case_id: str, after_seq: int, after_time: float, limit: int
) -> tuple[int, list[AskedApproval]]:
    """(calls on the case after the latest handoff, the approvals asked among them and not answered
    since, oldest first)."""
    start = max(after_seq + 1, first_seq_after(conn, after_time)) if after_time else after_seq + 1
    count_sql = _COUNT + " WHERE case_id = ? AND seq >= ? AND " + _NOT_WORK
    (count,) = conn.execute(count_sql, [case_id, start]).fetchone()
    asked = []
    for r in conn.execute(_OPEN_ASKS, [case_id, start, limit]):
        values = dict(zip(COLUMNS, r[: len(COLUMNS)], strict=True))
        values["time"] = to_epoch(values["time"])
        digest, arguments = r[len(COLUMNS) :]
        try:
            args = json.loads(arguments) if arguments else {}
        except ValueError:
            args = {}
        asked.append(AskedApproval(ReceiptRow(**values), digest, args))
    return int(count), asked[::-1]


# Receipts are append-only (triggers refuse UPDATE and DELETE), so a case's per-tool counts up to a
# seq never change: keep them per (database file, case) and add only the newer rows on each read.
_SUMMARY_CACHE: dict[tuple[Any, ...], tuple[int, dict[str, dict[str, int]], dict[str, int], Any, Any]] = {}
_CACHE_MAX = 256


def case_summary(conn: sqlite3.Connection, case_id: str, *, db_key: Any = None) -> dict[str, Any]:
    """Calls per tool and outcome over the whole case.

    A call is counted by its ending receipt (outcome, interrupted or event); an intent with no
    ending receipt is counted as ``unfinished``. With ``db_key`` (the file's identity) the counts are
    cached and extended incrementally.
    """
    (head,) = conn.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()
    key = (db_key, case_id)
    cached = _SUMMARY_CACHE.get(key) if db_key is not None else None
    if cached is None or cached[0] > head:  # none yet, or a new chain replaced the file
        cached = (0, {}, {}, None, None)
    upto, counts, starts, first, last = cached
    counts = {k: dict(v) for k, v in counts.items()}
    starts = dict(starts)
    # Only the columns a (case_id, tool, kind, outcome) index holds, so such an index can answer the
    # count alone; first and last times come from the ends of the case's seq range (time grows with seq).
    sql = (
        "SELECT tool, kind, outcome, count(*) FROM receipts "
        "WHERE case_id = ? AND seq > ? AND seq <= ? GROUP BY tool, kind, outcome"
    )
    ends = "SELECT time FROM receipts WHERE case_id = ? AND seq > ? AND seq <= ? ORDER BY seq {} LIMIT 1"
    if first is None:
        row = conn.execute(ends.format("ASC"), (case_id, upto, head)).fetchone()
        first = row[0] if row else None
    row = conn.execute(ends.format("DESC"), (case_id, upto, head)).fetchone()
    last = row[0] if row else last
    for tool, kind, outcome, n in conn.execute(sql, (case_id, upto, head)):
        name = tool or ("(model turn)" if kind == "model" else "(event)")
        if kind == "intent":
            starts[name] = starts.get(name, 0) + n
            continue
        by = counts.setdefault(name, {})
        key2 = outcome or kind
        by[key2] = by.get(key2, 0) + n
    if db_key is not None:
        if len(_SUMMARY_CACHE) >= _CACHE_MAX:
            _SUMMARY_CACHE.pop(next(iter(_SUMMARY_CACHE)))
        _SUMMARY_CACHE[key] = (head, counts, starts, first, last)
    shown = {k: dict(v) for k, v in counts.items()}
    for name, n in starts.items():
        ended = sum(shown.get(name, {}).values())
        if n > ended:
            shown.setdefault(name, {})["unfinished"] = n - ended
    return {
        "calls": sum(sum(v.values()) for v in shown.values()),
        "by_tool": shown,
        "first": to_epoch(first) if first is not None else None,
        "last": to_epoch(last) if last is not None else None,
    }


def db_key(path: Any) -> tuple[str, int, int]:
    if getattr(path, "url", None) is not None:  # one PostgreSQL log: its rows never change either
        return (f"{path.url}#{path.log_id}", 0, 0)
    path = Path(getattr(path, "path", path))
    st = path.stat()
    return (str(path), st.st_dev, st.st_ino)
