from __future__ import annotations

from pathlib import Path

import pytest

from tests.memory.conftest import Receipts
from tollhouse.gate.grants import add_grant, revoke_grant
from tollhouse.state import casefile, cases, memory
from tollhouse.state.db import StateDB, open_sync

pytestmark = pytest.mark.anyio


async def build_case(state: StateDB, receipts: Receipts) -> None:
    await cases.open_case(
        state,
        title="Payments outage",
        case_id="pay-1",
        goal="Payments succeed again",
        tags=["payments"],
        author="o",
    )
    for obj in ("stripe", "adyen"):
        await memory.add_fact(
            state, subject="payments", predicate="provider", object=obj, author="o", status="accepted"
        )
    await memory.add_fact(
        state, subject="gateway", predicate="timeout", object="30s", source="case:pay-1", author="agent:x"
    )
    await memory.add_fact(
        state, subject="elsewhere", predicate="x", object="y", author="o", status="accepted"
    )
    receipts.call("files_read", case="pay-1")
    receipts.call("shell_run", case="pay-1", outcome="error", message="exit status 2")
    await cases.write_handoff(
        state, "pay-1", kind="blocked", summary="Old handoff", blockers=["no creds"], author="agent:a"
    )
    await cases.write_handoff(
        state, "pay-1", kind="progress", summary="Found the bad config", done=["read logs"],
        next_steps=["roll back config"], author="agent:b",
    )  # fmt: skip
    receipts.call("github_create_issue", case="pay-1", outcome="needs_approval", message="rule gh.ask")
    receipts.call("files_read", case="other")


async def test_case_file_markdown(state: StateDB, receipts: Receipts) -> None:
    await build_case(state, receipts)
    cf = await casefile.assemble(state, "pay-1", receipts.path)
    md = cf.markdown()
    latest = md.index("## Latest handoff")
    assert md.index("Found the bad config") > latest
    assert md.index("Found the bad config") < md.index("## Earlier handoffs") < md.index("Old handoff")
    assert "- roll back config" in md
    assert "**payments · provider**" in md and "'stripe'" in md and "'adyen'" in md
    assert "gateway · timeout · 30s" in md.split("## Open proposals")[1]
    assert "elsewhere" not in md
    assert "3 call(s) between" in md
    assert "| shell_run | error 1 |" in md
    assert "shell_run → error — exit status 2" in md
    pending = md.split("## Pending approvals")[1]
    assert "github_create_issue" in pending and "rule gh.ask" in pending
    assert "1 call(s) since the latest handoff" in md


async def test_case_file_without_receipts(state: StateDB) -> None:
    await cases.open_case(state, title="t", case_id="c1", author="o")
    cf = await casefile.assemble(state, "c1", None)
    md = cf.markdown()
    assert "_No handoff yet._" in md and "_No calls recorded on this case._" in md


async def test_case_receipts_json_and_index(state: StateDB, receipts: Receipts) -> None:
    await build_case(state, receipts)
    data = await casefile.case_receipts(state, "pay-1", receipts.path)
    assert data["summary"]["calls"] == 3
    assert [c["tool"] for c in data["calls"]] == ["github_create_issue", "shell_run", "files_read"]
    index = await casefile.case_index(state)
    assert index == [
        {
            "id": "pay-1", "title": "Payments outage", "status": "open", "tags": ["payments"],
            "uri": "case://pay-1", "updated_at": index[0]["updated_at"], "latest_handoff": "progress",
        }
    ]  # fmt: skip
    with pytest.raises(cases.CaseInputError, match="no case 'nope'"):
        await casefile.assemble(state, "nope", receipts.path)


async def test_receipt_summary_follows_new_receipts_and_a_replaced_database(
    state: StateDB, receipts: Receipts
) -> None:
    await build_case(state, receipts)
    first = await casefile.assemble(state, "pay-1", receipts.path)
    assert first.receipts_summary["calls"] == 3
    receipts.call("shell_run", case="pay-1", outcome="ok")
    receipts.call("shell_run", case="pay-1", outcome=None)  # still running
    second = await casefile.assemble(state, "pay-1", receipts.path)
    assert second.receipts_summary["calls"] == 5
    assert second.receipts_summary["by_tool"]["shell_run"] == {"error": 1, "ok": 1, "unfinished": 1}
    assert second.uncovered == 3  # github_create_issue and the two shell_run calls
    # A new chain in place of the old file: counts start again, not from the cached ones.
    receipts.conn.close()
    receipts.path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(receipts.path) + suffix).unlink(missing_ok=True)
    fresh = Receipts(receipts.path)
    fresh.call("files_read", case="pay-1")
    third = await casefile.assemble(state, "pay-1", fresh.path)
    assert third.receipts_summary["calls"] == 1
    fresh.conn.close()


def _pending(cf: casefile.CaseFile) -> list[tuple[str | None, int]]:
    return [(r.tool, r.seq) for r in cf.pending_approvals]


async def test_an_answered_approval_is_never_listed_as_pending(state: StateDB, receipts: Receipts) -> None:
    """The gate writes a needs_approval receipt when nobody could be asked; the call is answered later by
    the same tool and arguments (same args_digest) coming back: run, declined, or asked again."""
    await cases.open_case(state, title="Deploy", case_id="dep", author="o")

    def ask(digest: str) -> int:
        return receipts.call("shell_run", case="dep", outcome="needs_approval", digest=digest, arguments="{}")

    ran, declined, twice, waiting = ask("d-ran"), ask("d-no"), ask("d-2x"), ask("d-wait")
    cf = await casefile.assemble(state, "dep", receipts.path)
    assert _pending(cf) == [("shell_run", s) for s in (ran, declined, twice, waiting)]

    receipts.call("shell_run", case="dep", outcome="ok", digest="d-ran")  # approved and run
    receipts.call("shell_run", case=None, outcome="denied", digest="d-no")  # declined; retry lost the case
    again = ask("d-2x")
    receipts.call("shell_run", case="dep", outcome="ok", digest="d-other")  # other arguments: no answer
    receipts.call("files_read", case="dep", outcome="ok", digest="d-wait")  # another tool: no answer
    cf = await casefile.assemble(state, "dep", receipts.path)
    assert _pending(cf) == [("shell_run", waiting), ("shell_run", again)]
    md = cf.markdown().split("## Pending approvals")[1]
    assert f"receipt {waiting}:" in md and f"receipt {again}:" in md
    for answered in (ran, declined, twice):
        assert f"receipt {answered}:" not in md
    assert [r["seq"] for r in cf.to_json()["pending_approvals"]] == [waiting, again]


async def test_a_granted_approval_is_not_pending(state: StateDB, receipts: Receipts) -> None:
    """An operator's grant covering an asked call answers it before the agent retries."""
    await cases.open_case(state, title="Deploy", case_id="dep", author="o")
    args = '{"argv":["make","deploy"]}'
    asked = receipts.call("shell_run", case="dep", outcome="needs_approval", digest="d1", arguments=args)
    other = receipts.call("shell_run", case="dep", outcome="needs_approval", digest="d2", arguments="{}")
    conn = open_sync(state.path)
    try:
        narrow = add_grant(conn, tool="shell_run", args_match={"argv": "*"}, created_by="operator:o")
        cf = await casefile.assemble(state, "dep", receipts.path)
        assert _pending(cf) == [("shell_run", other)]  # "{}" has no argv: the grant does not cover it
        assert [(r.seq, g) for r, g in cf.granted_approvals] == [(asked, narrow.id)]
        md = cf.markdown().split("## Pending approvals")[1]
        assert f"receipt {asked}: shell_run (grant {narrow.id})" in md.split("Granted since")[1]
        assert f"receipt {asked}:" not in md.split("Granted since")[0]
        # A revoked grant answers nothing: the call is pending again.
        assert revoke_grant(conn, narrow.id)
        cf = await casefile.assemble(state, "dep", receipts.path)
        assert _pending(cf) == [("shell_run", asked), ("shell_run", other)] and cf.granted_approvals == []
        exact = add_grant(conn, tool="shell_*", args_digest="d2", created_by="operator:o")
        cf = await casefile.assemble(state, "dep", receipts.path)
        assert _pending(cf) == [("shell_run", asked)]
        assert [(r.seq, g) for r, g in cf.granted_approvals] == [(other, exact.id)]
    finally:
        conn.close()


async def test_summary_spans_the_first_and_last_receipt_of_the_case(
    state: StateDB, receipts: Receipts
) -> None:
    await cases.open_case(state, title="t", case_id="c1", author="o")
    receipts.call("files_read", case="other", at=1_700_000_000.0)
    receipts.call("files_read", case="c1", at=1_700_000_100.0)
    receipts.call("shell_run", case="c1", at=1_700_000_200.0)
    receipts.call("files_read", case="other", at=1_700_000_300.0)
    first = (await casefile.assemble(state, "c1", receipts.path)).receipts_summary
    assert (first["first"], first["last"]) == (1_700_000_100.0, 1_700_000_200.0)
    receipts.call("shell_run", case="c1", at=1_700_000_400.0)  # counted incrementally from the cache
    again = (await casefile.assemble(state, "c1", receipts.path)).receipts_summary
    assert (again["first"], again["last"], again["calls"]) == (1_700_000_100.0, 1_700_000_400.0, 3)
    assert (
        "between 2023-11-14 22:15:00Z and 2023-11-14 22:20:00Z"
        in (await casefile.assemble(state, "c1", receipts.path)).markdown()
    )
