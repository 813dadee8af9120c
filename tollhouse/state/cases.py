"""Cases: a piece of work with a goal, notes, and handoffs from one agent to the next.

An agent writes a handoff when it finishes, gets blocked or fails. When a session ends (or a server
stops) after calls on a case that no handoff covers, ``write_interrupted_handoffs`` writes one of kind
``interrupted`` that lists those calls' receipts, so the next agent knows where work stopped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from tollhouse.state import receipts_view
from tollhouse.state.changes import add_listener, case_changed
from tollhouse.state.db import StateDB, from_row, words
from tollhouse.state.memory import FactInputError, normalize_tags

__all__ = ["add_listener"]  # re-exported: listeners hear case changes

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
CASE_STATUSES = ("open", "blocked", "done")
HANDOFF_KINDS = ("progress", "done", "blocked", "failed", "interrupted")
TITLE_MAX = 200
GOAL_MAX = 4000
NOTE_MAX = 8000
SUMMARY_MAX = 8000
ITEMS_MAX = 50
ITEM_MAX = 1000


class CaseInputError(FactInputError):
    """A case request that cannot be carried out; the message says what to change."""


def check_case_id(case_id: str) -> str:
    if not isinstance(case_id, str) or not CASE_ID_RE.match(case_id):
        raise CaseInputError(
            f"case id {case_id!r} is not valid: use 1-64 letters, digits, '-' or '_', starting with a letter "
            "or digit (case_list shows existing cases)"
        )
    return case_id


def _limit(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise CaseInputError(f"{name} is {len(value)} characters, over the limit of {limit}; shorten it")


def _items(name: str, items: Sequence[str]) -> list[str]:
    if len(items) > ITEMS_MAX:
        raise CaseInputError(f"{name} has {len(items)} items, over the limit of {ITEMS_MAX}")
    for item in items:
        _limit(f"an item of {name}", item, ITEM_MAX)
    return [i for i in items if i.strip()]


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    goal: str
    status: str
    tags: list[str]
    created_by: str
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> Case:
        return from_row(cls, row, tags=words)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Handoff:
    id: int
    case_id: str
    kind: str
    summary: str
    done: list[str]
    next_steps: list[str]
    blockers: list[str]
    receipts: list[int]
    last_receipt_seq: int | None
    status_after: str
    author: str
    session: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: Any) -> Handoff:
        return from_row(
            cls,
            row,
            done=json.loads,
            next_steps=json.loads,
            blockers=json.loads,
            receipts=json.loads,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return slug or "case"


async def get_case(state: StateDB, case_id: str) -> Case | None:
    check_case_id(case_id)
    async with state.store.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)) as cur:
        row = await cur.fetchone()
    return Case.from_row(row) if row else None


async def require_case(state: StateDB, case_id: str) -> Case:
    case = await get_case(state, case_id)
    if case is None:
        raise CaseInputError(f"no case {case_id!r}; open it with case_open or pick one from case_list")
    return case


async def open_case(
    state: StateDB,
    *,
    title: str,
    author: str,
    case_id: str | None = None,
    goal: str = "",
    tags: Sequence[str] = (),
) -> tuple[Case, bool]:
    """Create a case (id from the title when not given). Opening an existing id returns it unchanged,
    so an agent can call case_open to resume. Returns (case, created)."""
    if case_id is not None:
        check_case_id(case_id)
        if state.redactor.redact_text(case_id) != case_id:
            # Stored redacted, the id would no longer name the case (nor be a valid id): refuse it.
            raise CaseInputError(
                "case id looks like a secret (a token or a known credential value) and would be "
                "redacted; choose another id"
            )
    if not title.strip():
        raise CaseInputError("a case needs a title")
    _limit("title", title, TITLE_MAX)
    _limit("goal", goal, GOAL_MAX)
    clean_tags = normalize_tags(tags)
    now = time.time()
    async with state.store.write() as conn:
        if case_id is not None:
            async with conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                return Case.from_row(row), False
            new_id = case_id
        else:
            base = _slug(title)
            new_id, n = base, 1
            while True:
                async with conn.execute("SELECT 1 FROM cases WHERE id = ?", (new_id,)) as cur:
                    if await cur.fetchone() is None:
                        break
                n += 1
                new_id = f"{base}-{n}"
        await conn.execute(
            "INSERT INTO cases (id, title, goal, status, tags, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, 'open', ?, ?, ?, ?)",
            (new_id, title.strip(), goal, " ".join(clean_tags), author, now, now),
        )
    await case_changed(new_id)
    case = await get_case(state, new_id)
    assert case is not None
    return case, True


async def list_cases(
    state: StateDB, *, status: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0
) -> list[Case]:
    if status is not None and status not in CASE_STATUSES:
        raise CaseInputError(f"status must be one of {', '.join(CASE_STATUSES)}")
    where, params = ["TRUE"], []
    if status:
        where.append("status = ?")
        params.append(status)
    if tag:
        where.append("(' ' || tags || ' ') LIKE ?")
        params.append(f"% {normalize_tags([tag])[0]} %")
    sql = f"SELECT * FROM cases WHERE {' AND '.join(where)} ORDER BY updated_at DESC, id LIMIT ? OFFSET ?"  # noqa: S608 -- placeholders and fixed column names only
    async with state.store.conn.execute(sql, [*params, limit, offset]) as cur:
        return [Case.from_row(r) for r in await cur.fetchall()]


async def add_note(state: StateDB, case_id: str, text: str, *, author: str) -> int:
    if not text.strip():
        raise CaseInputError("a note needs text")
    _limit("note", text, NOTE_MAX)
    await require_case(state, case_id)
    now = time.time()
    async with state.store.write() as conn:
        async with conn.execute(
            "INSERT INTO case_notes (case_id, author, text, created_at) VALUES (?, ?, ?, ?) RETURNING id",
            (case_id, author, text, now),
        ) as cur:
            (note_id,) = await cur.fetchone()
        await conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (now, case_id))
    await case_changed(case_id)
    return int(note_id)


async def notes(state: StateDB, case_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
    async with state.store.conn.execute(
        "SELECT id, author, text, created_at FROM case_notes WHERE case_id = ? ORDER BY id DESC LIMIT ?",
        (case_id, limit),
    ) as cur:
        return [dict(r) for r in await cur.fetchall()]


_STATUS_AFTER = {"done": "done", "blocked": "blocked", "failed": "open", "progress": "open"}


async def write_handoff(
    state: StateDB,
    case_id: str,
    *,
    kind: str,
    summary: str,
    author: str,
    done: Sequence[str] = (),
    next_steps: Sequence[str] = (),
    blockers: Sequence[str] = (),
    status: str | None = None,
    session: str | None = None,
    receipts: Sequence[int] = (),
    last_receipt_seq: int | None = None,
) -> Handoff:
    if kind not in HANDOFF_KINDS:
        raise CaseInputError(f"handoff kind must be one of {', '.join(HANDOFF_KINDS)}")
    if status is not None and status not in CASE_STATUSES:
        raise CaseInputError(f"status must be one of {', '.join(CASE_STATUSES)}")
    if not summary.strip():
        raise CaseInputError("a handoff needs a summary: what happened and where things stand")
    _limit("summary", summary, SUMMARY_MAX)
    lists = [_items("done", done), _items("next_steps", next_steps), _items("blockers", blockers)]
    if kind == "blocked" and not lists[2]:
        raise CaseInputError("a blocked handoff must name its blockers")
    case = await require_case(state, case_id)
    status_after = status or (case.status if kind == "interrupted" else _STATUS_AFTER[kind])
    now = time.time()
    async with state.store.write() as conn:
        async with conn.execute(
            "INSERT INTO handoffs (case_id, kind, summary, done, next_steps, blockers, receipts, "
            "last_receipt_seq, status_after, author, session, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
            "RETURNING id",
            (
                case_id,
                kind,
                summary,
                *(json.dumps(x) for x in lists),
                json.dumps(list(receipts)),
                last_receipt_seq,
                status_after,
                author,
                session,
                now,
            ),
        ) as cur:
            (handoff_id,) = await cur.fetchone()
        await conn.execute(
            "UPDATE cases SET status = ?, updated_at = ? WHERE id = ?", (status_after, now, case_id)
        )
    await case_changed(case_id)
    async with state.store.conn.execute("SELECT * FROM handoffs WHERE id = ?", (handoff_id,)) as c:
        row = await c.fetchone()
    return Handoff.from_row(row)


async def handoffs(state: StateDB, case_id: str, *, limit: int = 10) -> list[Handoff]:
    """Newest first."""
    async with state.store.conn.execute(
        "SELECT * FROM handoffs WHERE case_id = ? ORDER BY id DESC LIMIT ?", (case_id, limit)
    ) as cur:
        return [Handoff.from_row(r) for r in await cur.fetchall()]


async def uncovered_calls(
    state: StateDB, conn: Any, case_id: str, *, session: str | None = None
) -> list[receipts_view.ReceiptRow]:
    """Calls on a case that came after its latest handoff (by receipt seq and by time)."""
    latest = await handoffs(state, case_id, limit=1)
    after_seq = latest[0].last_receipt_seq or 0 if latest else 0
    after_time = latest[0].created_at if latest else 0.0
    rows = await anyio.to_thread.run_sync(
        lambda: receipts_view.case_calls(conn, case_id, session=session, after_seq=after_seq)
    )
    return [
        r
        for r in rows
        if r.time > after_time and r.tool not in receipts_view.NON_CALL_TOOLS and r.kind != "event"
    ]


async def write_interrupted_handoffs(
    state: StateDB, receipts_db_path: Path | Any, *, session: str | None = None
) -> list[Handoff]:
    """For every case with calls (in ``session``, or any) since its latest handoff, write an
    ``interrupted`` handoff listing them. Called by the gate/server at shutdown or session end."""
    conn = await anyio.to_thread.run_sync(receipts_view.connect_ro, receipts_db_path)
    if conn is None:
        return []
    written: list[Handoff] = []
    try:
        where, params = "case_id IS NOT NULL", []
        if session is not None:
            where += " AND session = ?"
            params.append(session)
        case_ids = [
            r[0]
            for r in conn.execute(f"SELECT DISTINCT case_id FROM receipts WHERE {where}", params)  # noqa: S608 -- placeholders and fixed column names only
        ]
        for case_id in case_ids:
            if not CASE_ID_RE.match(case_id) or await get_case(state, case_id) is None:
                continue  # a call named a case that was never opened: nothing to hand off to
            calls = await uncovered_calls(state, conn, case_id, session=session)
            if not calls:
                continue
            lines = [f"receipt {r.seq}: {r.tool} -> {r.outcome or 'unfinished'}" for r in calls]
            who = f"session {session}" if session else "the server"
            written.append(
                await write_handoff(
                    state,
                    case_id,
                    kind="interrupted",
                    author="tollhouse",
                    summary=f"Work stopped without a handoff: {who} ended after {len(calls)} call(s) on "
                    "this case since the last handoff. Check these receipts before continuing.",
                    done=lines[-ITEMS_MAX:],
                    session=session,
                    receipts=[r.seq for r in calls],
                    last_receipt_seq=max(r.seq for r in calls),
                )
            )
    finally:
        conn.close()
    return written
