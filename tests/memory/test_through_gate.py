"""Memory and case tools through the real gate: default policies, receipts with the case id, and the
interrupted handoff written from those receipts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollhouse.config import load_config
from tollhouse.gate import Call, Gate
from tollhouse.profiles import render
from tollhouse.state import cases, memory, memory_query

pytestmark = pytest.mark.anyio


async def _gate(workspace: Path, profile: str) -> Gate:
    (workspace / "tollhouse.toml").write_text(render(profile), encoding="utf-8")
    return await Gate.open(load_config(workspace / "tollhouse.toml"))


@pytest.mark.parametrize(
    ("profile", "status"), [("dev", "needs_approval"), ("ci", "denied"), ("readonly", "denied")]
)
async def test_direct_write_is_not_allowed_by_default_policies(
    workspace: Path, profile: str, status: str
) -> None:
    async with await _gate(workspace, profile) as gate:
        out = await gate.call(
            Call(tool="memory_write", arguments={"subject": "a", "predicate": "b", "object": "c"})
        )
        assert out.status == status, out.message
        assert (
            await memory_query.search(gate.services.state, "a", statuses=list(memory.STATUSES))
        ).facts == []


async def test_propose_through_gate_then_review(workspace: Path) -> None:
    async with await _gate(workspace, "dev") as gate:
        out = await gate.call(
            Call(
                tool="memory_propose", arguments={"subject": "api", "predicate": "owner", "object": "team-a"},
                client="agent-x/1", session="s1", case="c1", channel="mcp-stdio",
            )
        )  # fmt: skip
        assert out.status == "ok", out.message
        assert out.result["status"] == "proposed" and out.result["author"].startswith("agent:agent-x/1/s1")
        state = gate.services.state
        accepted = await memory.review(state, out.result["id"], accept=True, reviewer="operator:me")
        assert accepted.status == "accepted"
        found = await gate.call(Call(tool="memory_search", arguments={"query": "owner api"}))
        assert [f["id"] for f in found.result["facts"]] == [out.result["id"]]


async def test_calls_on_a_case_leave_an_interrupted_handoff(workspace: Path) -> None:
    async with await _gate(workspace, "dev") as gate:
        (workspace / "notes.txt").write_text("hello", encoding="utf-8")
        opened = await gate.call(
            Call(tool="case_open", arguments={"title": "Tidy", "id": "tidy"}, session="s1")
        )
        assert opened.status == "ok", opened.message
        read = await gate.call(
            Call(tool="files_read", arguments={"path": "notes.txt"}, session="s1", case="tidy")
        )
        assert read.status == "ok", read.message
        later = await gate.call(
            Call(tool="case_note", arguments={"text": "read notes"}, session="s1", case="tidy")
        )
        assert later.status == "ok"
        db = gate.services.receipts.db_path
        (h,) = await cases.write_interrupted_handoffs(gate.services.state, db, session="s1")
        assert h.kind == "interrupted" and h.case_id == "tidy"
        assert [line.split(": ", 1)[1] for line in h.done] == ["files_read -> ok", "case_note -> ok"]
        assert set(h.receipts) >= set(read.receipts[-1:])
        # A handoff by the agent covers what came before it.
        done = await gate.call(
            Call(
                tool="case_handoff",
                arguments={"kind": "done", "summary": "tidied"},
                session="s1",
                case="tidy",
            )
        )
        assert done.status == "ok" and done.result["status"] == "done"
        assert await cases.write_interrupted_handoffs(gate.services.state, db, session="s1") == []


async def test_policy_can_narrow_memory_write_by_subject(workspace: Path) -> None:
    (workspace / "tollhouse.toml").write_text(
        '[[rules]]\nid = "runbooks"\ntools = ["memory_write"]\n'
        'args = { subject = "runbook:*" }\neffect = "allow"\n',
        encoding="utf-8",
    )
    async with await Gate.open(load_config(workspace / "tollhouse.toml")) as gate:
        ok = await gate.call(
            Call(tool="memory_write", arguments={"subject": "runbook:db", "predicate": "p", "object": "o"})
        )
        assert ok.status == "ok", ok.message
        no = await gate.call(
            Call(tool="memory_write", arguments={"subject": "db", "predicate": "p", "object": "o"})
        )
        assert no.status == "denied"


async def test_case_file_pending_approvals_follow_the_real_gate(workspace: Path) -> None:
    """memory_write asks under the dev policy: with nobody to ask it is pending; declined on the retry,
    granted by an operator, or run after the grant, it is not."""
    from tollhouse.gate.grants import add_grant
    from tollhouse.gate.types import ApprovalAnswer
    from tollhouse.state import casefile
    from tollhouse.state.db import open_sync

    async def decline(request: object) -> ApprovalAnswer:
        return ApprovalAnswer(approved=False, approver="test:no")

    def write(obj: str, **call: object) -> Call:
        args = {"subject": "api", "predicate": "owner", "object": obj}
        return Call(tool="memory_write", arguments=args, case="c1", session="s1", **call)

    async with await _gate(workspace, "dev") as gate:
        state, db = gate.services.state, gate.services.receipts.db_path
        await cases.open_case(state, title="Ownership", case_id="c1", author="o")

        async def pending() -> list[int]:
            return [r.seq for r in (await casefile.assemble(state, "c1", db)).pending_approvals]

        first = await gate.call(write("team-a"))
        assert first.status == "needs_approval", first.message
        assert await pending() == first.receipts[-1:]
        no = await gate.call(write("team-a", approver=decline))
        assert no.status == "denied" and await pending() == []

        second = await gate.call(write("team-b"))
        assert second.status == "needs_approval" and await pending() == second.receipts[-1:]
        conn = open_sync(state.path)
        try:
            grant = add_grant(
                conn, tool="memory_write", args_match={"object": "team-b"}, created_by="o", uses=1
            )
        finally:
            conn.close()
        cf = await casefile.assemble(state, "c1", db)
        assert cf.pending_approvals == [] and [g for _, g in cf.granted_approvals] == [grant.id]
        ran = await gate.call(write("team-b"))
        assert ran.status == "ok", ran.message
        conn = open_sync(state.path)
        try:
            conn.execute("UPDATE grants SET revoked_at = 1 WHERE id = ?", (grant.id,))
        finally:
            conn.close()
        cf = await casefile.assemble(state, "c1", db)  # grant gone: the ok receipt alone answers the ask
        assert cf.pending_approvals == [] and cf.granted_approvals == []
