"""The case file: everything the next agent needs to continue a case, as Markdown and as data.

Plain functions over the state database and (read-only) the receipts database; the MCP server
publishes them as ``case://{id}`` resources and the ``resume_case`` prompt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from tollhouse.gate.grants import Grant
from tollhouse.state import cases as cases_mod
from tollhouse.state import memory, memory_query, receipts_view
from tollhouse.state.db import StateDB

RECENT_CALLS = 20
MAX_FACTS = 50
MAX_HANDOFFS = 5
MAX_CONTRADICTIONS = 20


def _when(t: float | None) -> str:
    if not t:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass
class CaseFile:
    case: cases_mod.Case
    handoffs: list[cases_mod.Handoff]
    notes: list[dict[str, Any]]
    facts: list[memory.Fact]
    proposals: list[memory.Fact]
    contradictions: list[memory_query.Contradiction]
    receipts_summary: dict[str, Any] | None
    recent_calls: list[receipts_view.ReceiptRow]
    pending_approvals: list[receipts_view.ReceiptRow]
    """Calls since the latest handoff that needed approval and were neither answered nor granted."""
    granted_approvals: list[tuple[receipts_view.ReceiptRow, str]] = field(default_factory=list)
    """Such calls that a grant (its id) now covers: making the call again runs it."""
    uncovered: int = 0
    """Calls on the case after its latest handoff."""

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case.to_json(),
            "handoffs": [h.to_json() for h in self.handoffs],
            "notes": self.notes,
            "facts": [f.to_json() for f in self.facts],
            "proposals": [f.to_json() for f in self.proposals],
            "contradictions": [c.to_json() for c in self.contradictions],
            "receipts_summary": self.receipts_summary,
            "recent_calls": [r.to_json() for r in self.recent_calls],
            "pending_approvals": [r.to_json() for r in self.pending_approvals],
            "granted_approvals": [{**r.to_json(), "grant": g} for r, g in self.granted_approvals],
        }

    def markdown(self) -> str:
        c = self.case
        out = [f"# Case {c.id}: {c.title}", ""]
        out += [f"- **Status:** {c.status}", f"- **Tags:** {' '.join(c.tags) or '-'}"]
        out += [
            f"- **Opened:** {_when(c.created_at)} by {c.created_by}",
            f"- **Updated:** {_when(c.updated_at)}",
        ]
        out += ["", "## Goal", "", c.goal or "_(no goal written)_", ""]
        out += ["## Latest handoff", ""]
        if self.handoffs:
            out += _handoff_md(self.handoffs[0])
        else:
            out += ["_No handoff yet._", ""]
        if self.uncovered:
            out += [
                f"> {self.uncovered} call(s) since the latest handoff are not covered by any handoff.",
                "",
            ]
        if len(self.handoffs) > 1:
            out += ["## Earlier handoffs", ""]
            for h in self.handoffs[1:]:
                out.append(f"- {_when(h.created_at)} **{h.kind}** by {h.author}: {h.summary.splitlines()[0]}")
            out.append("")
        if self.notes:
            out += ["## Notes", ""]
            out += [f"- {_when(n['created_at'])} {n['author']}: {n['text']}" for n in self.notes]
            out.append("")
        out += ["## Facts", ""]
        out += [f"- {f.line()}" for f in self.facts] or [
            "_No accepted facts for this case's subjects or tags._"
        ]
        out += ["", "## Contradictions", ""]
        if self.contradictions:
            for con in self.contradictions:
                objs = "; ".join(f"#{f.id} {f.object!r}" for f in con.facts)
                out.append(f"- **{con.subject} · {con.predicate}**: {objs}")
        else:
            out.append("_None._")
        out += ["", "## Open proposals", ""]
        out += [f"- {f.line()} (by {f.author})" for f in self.proposals] or ["_None._"]
        out += ["", "## Receipts", ""]
        out += self._receipts_md()
        out += ["## Pending approvals", ""]
        out += [
            f"- receipt {r.seq}: {r.tool} ({_when(r.time)}) {r.message or ''}".rstrip()
            for r in self.pending_approvals
        ] or ["_None._"]
        if self.granted_approvals:
            out += ["", "Granted since they were asked (make the call again to run it):", ""]
            out += [f"- receipt {r.seq}: {r.tool} (grant {g})" for r, g in self.granted_approvals]
        out.append("")
        return "\n".join(out)

    def _receipts_md(self) -> list[str]:
        s = self.receipts_summary
        if not s or not s["calls"]:
            return ["_No calls recorded on this case._", ""]
        out = [f"{s['calls']} call(s) between {_when(s['first'])} and {_when(s['last'])}.", ""]
        out += ["| tool | outcomes |", "|---|---|"]
        for tool, outcomes in sorted(s["by_tool"].items()):
            out.append(f"| {tool} | {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))} |")
        out += ["", f"Most recent {len(self.recent_calls)}:", ""]
        for r in self.recent_calls:
            note = f" — {r.message}" if r.message and r.outcome not in (None, "ok") else ""
            what = r.tool or ("model turn" if r.kind == "model" else "event")
            out.append(f"- {r.seq} {_when(r.time)} {what} → {r.outcome or 'unfinished'}{note}")
        out.append("")
        return out


def _handoff_md(h: cases_mod.Handoff) -> list[str]:
    out = [
        f"**{h.kind}** — {_when(h.created_at)} by {h.author} (status after: {h.status_after})",
        "",
        h.summary,
        "",
    ]
    for title, items in (("Done", h.done), ("Next steps", h.next_steps), ("Blockers", h.blockers)):
        if items:
            out += [f"{title}:", *[f"- {i}" for i in items], ""]
    if h.receipts:
        out += [f"Receipts: {', '.join(str(s) for s in h.receipts[:50])}", ""]
    return out


async def _relevant_facts(state: StateDB, case: cases_mod.Case, status: str) -> list[memory.Fact]:
    """Facts sourced from the case, about the case (subject = id or a tag), or tagged like it."""
    keys = [case.id, *case.tags]
    marks = ",".join("?" * len(keys))
    sql = (
        f"SELECT * FROM facts WHERE status = ? AND (source = ? OR subject IN ({marks}) OR id IN "  # noqa: S608 -- placeholders and fixed column names only
        f"(SELECT fact_id FROM fact_tags WHERE tag IN ({marks}))) ORDER BY updated_at DESC, id DESC LIMIT ?"
    )
    params = [status, f"case:{case.id}", *keys, *[k.lower() for k in keys], MAX_FACTS]
    async with state.store.conn.execute(sql, params) as cur:
        return [memory.Fact.from_row(r) for r in await cur.fetchall()]


def _receipt_parts(
    path: Path | Any, case_id: str, after_seq: int, after_time: float
) -> tuple[dict[str, Any] | None, list[receipts_view.ReceiptRow], list[receipts_view.AskedApproval], int]:
    conn = receipts_view.connect_ro(path) if path is not None else None
    if conn is None:
        return None, [], [], 0
    try:
        summary = receipts_view.case_summary(conn, case_id, db_key=receipts_view.db_key(path))
        recent = receipts_view.recent_calls(conn, case_id, RECENT_CALLS)
        uncovered, pending = receipts_view.since_handoff(conn, case_id, after_seq, after_time, RECENT_CALLS)
    finally:
        conn.close()
    return summary, recent, pending, uncovered


async def assemble(state: StateDB, case_id: str, receipts_db: Path | Any) -> CaseFile:
    """The case file; ``receipts_db`` is the receipts.db path or a ``store.source.ReceiptSource``
    (on PostgreSQL, the log whose calls it lists), None for none."""
    case = await cases_mod.require_case(state, case_id)
    hs = await cases_mod.handoffs(state, case.id, limit=MAX_HANDOFFS)
    facts = await _relevant_facts(state, case, "accepted")
    proposals = await _relevant_facts(state, case, "proposed")
    subjects = sorted({f.subject for f in facts})
    contradictions = await memory_query.contradictions(state, subjects, limit=MAX_CONTRADICTIONS)
    after_seq = (hs[0].last_receipt_seq or 0) if hs else 0
    after_time = hs[0].created_at if hs else 0.0
    summary, recent, asked, uncovered = await anyio.to_thread.run_sync(
        _receipt_parts, receipts_db, case.id, after_seq, after_time
    )
    pending, granted = await _split_by_grants(state, asked)
    return CaseFile(
        case=case,
        handoffs=hs,
        notes=await cases_mod.notes(state, case.id, limit=10),
        facts=facts,
        proposals=proposals,
        contradictions=contradictions,
        receipts_summary=summary,
        recent_calls=recent,
        pending_approvals=pending,
        granted_approvals=granted,
        uncovered=uncovered,
    )


async def _split_by_grants(
    state: StateDB, asked: list[receipts_view.AskedApproval]
) -> tuple[list[receipts_view.ReceiptRow], list[tuple[receipts_view.ReceiptRow, str]]]:
    """Asked approvals that an operator's grant now covers are granted (the call only needs to be made
    again), not pending."""
    if not asked:
        return [], []
    now = time.time()
    async with state.store.conn.execute(
        "SELECT * FROM grants WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
        "ORDER BY created_at",
        (now,),
    ) as cur:
        active = [g for g in (Grant.from_row(r) for r in await cur.fetchall()) if g.active(now)]
    pending, granted = [], []
    for a in asked:
        args = a.arguments if isinstance(a.arguments, dict) else {}
        grant = next((g for g in active if g.covers(a.row.tool or "", args, a.args_digest or "")), None)
        if grant is None:
            pending.append(a.row)
        else:
            granted.append((a.row, grant.id))
    return pending, granted


async def case_receipts(state: StateDB, case_id: str, receipts_db: Path | Any, *, limit: int = 200) -> dict:
    """``case://{id}/receipts``: the case's calls, newest first, and the per-tool summary."""
    await cases_mod.require_case(state, case_id)

    def read() -> dict[str, Any]:
        conn = receipts_view.connect_ro(receipts_db) if receipts_db is not None else None
        if conn is None:
            return {"case_id": case_id, "summary": None, "calls": []}
        try:
            return {
                "case_id": case_id,
                "summary": receipts_view.case_summary(conn, case_id),
                "calls": [r.to_json() for r in receipts_view.recent_calls(conn, case_id, limit)],
            }
        finally:
            conn.close()

    return await anyio.to_thread.run_sync(read)


async def case_index(state: StateDB) -> list[dict[str, Any]]:
    """``tollhouse://cases``: every case with its status and latest handoff kind."""
    rows = await cases_mod.list_cases(state, limit=1000)
    out = []
    for c in rows:
        latest = await cases_mod.handoffs(state, c.id, limit=1)
        out.append(
            {
                "id": c.id,
                "title": c.title,
                "status": c.status,
                "tags": c.tags,
                "uri": f"case://{c.id}",
                "updated_at": c.updated_at,
                "latest_handoff": latest[0].kind if latest else None,
            }
        )
    return out
