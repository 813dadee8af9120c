from __future__ import annotations

import time

import pytest

from tests.memory.conftest import Receipts
from tollhouse.state import cases
from tollhouse.state.db import StateDB

pytestmark = pytest.mark.anyio


async def _case(state: StateDB, case_id: str = "c1") -> cases.Case:
    case, _ = await cases.open_case(state, title=f"Case {case_id}", case_id=case_id, author="operator:ann")
    return case


async def test_ids_from_titles_are_unique_and_valid(state: StateDB) -> None:
    a, _ = await cases.open_case(state, title="Fix: login / SSO!", author="o")
    b, _ = await cases.open_case(state, title="Fix: login / SSO!", author="o")
    c, _ = await cases.open_case(state, title="???", author="o")
    assert (a.id, b.id, c.id) == ("fix-login-sso", "fix-login-sso-2", "case")


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "..", "a.b", "x" * 65, "a b", "é"])
async def test_invalid_case_ids(state: StateDB, bad: str) -> None:
    with pytest.raises(cases.CaseInputError, match="is not valid"):
        await cases.open_case(state, title="t", case_id=bad, author="o")
    with pytest.raises(cases.CaseInputError, match="is not valid"):
        await cases.get_case(state, bad)


async def test_handoffs_on_done_and_blocked_set_status(state: StateDB) -> None:
    await _case(state)
    h1 = await cases.write_handoff(
        state, "c1", kind="blocked", summary="stuck", blockers=["need key"], author="a"
    )
    assert (h1.status_after, (await cases.get_case(state, "c1")).status) == ("blocked", "blocked")
    h2 = await cases.write_handoff(
        state, "c1", kind="done", summary="fixed", done=["patched"], next_steps=["watch"], author="a"
    )
    assert (await cases.get_case(state, "c1")).status == "done"
    assert [h.id for h in await cases.handoffs(state, "c1")] == [h2.id, h1.id]
    failed = await cases.write_handoff(state, "c1", kind="failed", summary="regressed", author="a")
    assert failed.status_after == "open"


async def test_oversized_handoff_is_refused(state: StateDB) -> None:
    await _case(state)
    with pytest.raises(cases.CaseInputError, match="summary is 8001 characters"):
        await cases.write_handoff(state, "c1", kind="done", summary="x" * 8001, author="a")
    with pytest.raises(cases.CaseInputError, match="next_steps has 51 items"):
        await cases.write_handoff(state, "c1", kind="done", summary="s", next_steps=["x"] * 51, author="a")
    assert await cases.handoffs(state, "c1") == []


async def test_interrupted_handoff_lists_uncovered_calls(state: StateDB, receipts: Receipts) -> None:
    await _case(state, "c1")
    await _case(state, "c2")
    before = time.time() - 100
    receipts.call("files_read", case="c1", at=before)  # before the handoff: covered
    await cases.write_handoff(state, "c1", kind="progress", summary="half way", author="a")
    s1 = receipts.call("files_write", case="c1", session="s1")
    s2 = receipts.call("shell_run", case="c1", session="s1", outcome="error", message="exit 1")
    receipts.call("case_handoff", case="c1", session="s1")  # the handoff's own receipt is not work
    other = receipts.call("files_read", case="c2", session="s2")
    receipts.call("files_read", case=None, session="s1")  # no case: nothing to hand off
    receipts.call("files_read", case="never-opened", session="s1")

    written = await cases.write_interrupted_handoffs(state, receipts.path, session="s1")
    assert [(h.case_id, h.kind, h.receipts) for h in written] == [("c1", "interrupted", [s1, s2])]
    assert written[0].done == [f"receipt {s1}: files_write -> ok", f"receipt {s2}: shell_run -> error"]
    assert (await cases.get_case(state, "c1")).status == "open"  # an interruption does not change status
    # Once written, the same calls are covered: a second shutdown writes nothing for them.
    assert await cases.write_interrupted_handoffs(state, receipts.path, session="s1") == []
    # Server shutdown (all sessions) picks up c2's session.
    rest = await cases.write_interrupted_handoffs(state, receipts.path)
    assert [(h.case_id, h.receipts) for h in rest] == [("c2", [other])]


async def test_unfinished_call_shows_in_interrupted_handoff(state: StateDB, receipts: Receipts) -> None:
    await _case(state)
    seq = receipts.call("shell_run", case="c1", outcome=None)  # killed mid-call: intent only
    (h,) = await cases.write_interrupted_handoffs(state, receipts.path)
    assert h.receipts == [seq] and h.done == [f"receipt {seq}: shell_run -> unfinished"]


async def test_no_receipts_database_means_no_handoffs(state: StateDB, tmp_path) -> None:
    await _case(state)
    assert await cases.write_interrupted_handoffs(state, tmp_path / "none.db") == []


async def test_listener_hears_changes(state: StateDB) -> None:
    heard: list[str] = []

    async def listen(case_id: str) -> None:
        heard.append(case_id)

    async def broken(case_id: str) -> None:
        raise RuntimeError("listener bug")

    remove = cases.add_listener(listen)
    remove_broken = cases.add_listener(broken)
    try:
        await _case(state)
        await cases.add_note(state, "c1", "n", author="a")
        await cases.write_handoff(state, "c1", kind="progress", summary="s", author="a")
    finally:
        remove()
        remove_broken()
    assert heard == ["c1", "c1", "c1"]
