"""Receipts grouped into calls: what `receipts tail`, `show` and `report` present to a person.

A call leaves one to three receipts (an intent, an outcome, or an ``interrupted`` after a crash);
an ``event`` has no call id and stands alone. A person asks about calls: which tool, what policy
decided, who approved, how it ended. These reads are plain read-only SQLite queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tollhouse.receipts.read import _SELECT, _rows, connect_readonly

PENDING = "pending"
"""The outcome shown for a call with an intent but no outcome yet (running, or awaiting approval)."""


@dataclass
class Call:
    call_id: str | None
    receipts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first(self) -> dict[str, Any]:
        return self.receipts[0]

    def _pick(self, key: str, kinds: tuple[str, ...] | None = None) -> Any:
        for entry in reversed(self.receipts):
            if (kinds is None or entry["kind"] in kinds) and entry.get(key) not in (None, ""):
                return entry[key]
        return None

    @property
    def outcome(self) -> str:
        if self.first["kind"] == "event":
            return "event"
        return self._pick("outcome", ("outcome", "interrupted")) or PENDING

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "time": self.first["time"],
            "tool": self._pick("tool"),
            "decision": self._pick("decision"),
            "outcome": self.outcome,
            "approver": self._pick("approver"),
            "rules": self._pick("rules") or [],
            "duration_us": self._pick("duration_us"),
            "operator": self._pick("operator"),
            "channel": self._pick("channel"),
            "session": self._pick("session"),
            "case_id": self._pick("case_id"),
            "arguments": self._pick("arguments"),
            "message": self._pick("message"),
            "excerpt": self._pick("excerpt"),
            "seqs": [e["seq"] for e in self.receipts],
            "receipts": self.receipts,
        }


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``10m``, ``2h``, ``7d``, or an ISO date/time (UTC unless it says otherwise) as the receipts'
    own time format, for comparison with their ``time`` field. ValueError with a hint otherwise."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"--since {text!r}: give a duration (30s, 10m, 2h, 7d, 1w) or a date/time "
                "(2026-11-30, 2026-11-30T14:00:00Z)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def recent_calls(
    db: Path,
    *,
    limit: int | None = 20,
    tool: str | None = None,
    session: str | None = None,
    case_id: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    after_seq: int = 0,
) -> list[Call]:
    """The last ``limit`` calls (all with None) matching every filter given, oldest first.

    Filters name the call, not one receipt: a call is kept when any of its receipts has the tool,
    session or case, its outcome is ``outcome``, and it began at or after ``since``."""
    where, params = ["seq > ?"], [after_seq]
    for column, value in (("tool", tool), ("session", session), ("case_id", case_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    having, hparams = [], []
    if since is not None:
        having.append("MIN(time) >= ?")
        hparams.append(since)
    final = "MAX(CASE WHEN kind IN ('outcome', 'interrupted') THEN COALESCE(outcome, kind) END)"
    if outcome == PENDING:
        having.append(f"{final} IS NULL AND MIN(kind) != 'event'")
    elif outcome is not None:
        having.append(f"{final} = ?")
        hparams.append(outcome)
    # Column names and clauses are constants of this module, never input: the f-string is safe.
    sql = (
        "SELECT COALESCE(call_id, '#' || seq) AS cid, MAX(seq) AS last FROM receipts"  # noqa: S608
        f" WHERE {' AND '.join(where)} GROUP BY cid"
        + (f" HAVING {' AND '.join(having)}" if having else "")
        + " ORDER BY last DESC"
        + (" LIMIT ?" if limit is not None else "")
    )
    conn = connect_readonly(db)
    try:
        found = conn.execute(sql, (*params, *hparams, *([limit] if limit is not None else []))).fetchall()
        return _load(conn, [cid for cid, _ in reversed(found)])
    finally:
        conn.close()


def _load(conn: Any, cids: list[str]) -> list[Call]:
    calls = []
    for cid in cids:
        if cid.startswith("#"):
            rows = _rows(conn, _SELECT + " WHERE seq = ?", (int(cid[1:]),))
            calls.append(Call(None, rows))
        else:
            calls.append(Call(cid, _rows(conn, _SELECT + " WHERE call_id = ? ORDER BY seq", (cid,))))
    return calls


def last_seq(db: Path) -> int:
    conn = connect_readonly(db)
    try:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM receipts").fetchone()[0])
    finally:
        conn.close()


def calls_touching(db: Path, after_seq: int) -> list[Call]:
    """Every call with a receipt after ``after_seq``, whole (older receipts included), oldest first."""
    conn = connect_readonly(db)
    try:
        cids = conn.execute(
            "SELECT COALESCE(call_id, '#' || seq) AS cid, MAX(seq) AS last FROM receipts WHERE seq > ? "
            "GROUP BY cid ORDER BY last",
            (after_seq,),
        ).fetchall()
        return _load(conn, [cid for cid, _ in cids])
    finally:
        conn.close()


class Ambiguous(ValueError):
    def __init__(self, prefix: str, candidates: list[str]) -> None:
        super().__init__(prefix)
        self.prefix = prefix
        self.candidates = candidates


def resolve_call_id(db: Path, text: str) -> str | None:
    """The one call id equal to or starting with ``text``; None when none; Ambiguous when several."""
    conn = connect_readonly(db)
    try:
        if conn.execute("SELECT 1 FROM receipts WHERE call_id = ? LIMIT 1", (text,)).fetchone():
            return text
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = [
            r[0]
            for r in conn.execute(
                "SELECT call_id, MAX(seq) FROM receipts WHERE call_id LIKE ? ESCAPE '\\' "
                "GROUP BY call_id ORDER BY MAX(seq) DESC LIMIT 11",
                (escaped + "%",),
            ).fetchall()
        ]
    finally:
        conn.close()
    # LIKE ignores ASCII case; a call id is compared exactly.
    found = [cid for cid in found if cid.startswith(text)]
    if len(found) > 1:
        raise Ambiguous(text, found)
    return found[0] if found else None
