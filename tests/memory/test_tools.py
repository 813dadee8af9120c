from __future__ import annotations

import pydantic
import pytest

from tests.memory.conftest import REGISTRY, run_tool
from tollhouse.state import memory
from tollhouse.state.db import StateDB
from tollhouse.tools.base import Effect, ToolError

pytestmark = pytest.mark.anyio


def test_catalogue_and_effects() -> None:
    assert REGISTRY.names() == [
        "case_handoff", "case_list", "case_note", "case_open", "case_use",
        "memory_get", "memory_propose", "memory_search", "memory_write",
    ]  # fmt: skip
    assert REGISTRY.get("memory_search").read_only and REGISTRY.get("memory_get").read_only
    assert REGISTRY.get("memory_write").effects == {Effect.WRITE}


async def test_propose_records_author_and_case_source(state: StateDB) -> None:
    out = await run_tool(
        state, "memory_propose", {"subject": "api", "predicate": "owner", "object": "team-a"},
        client="claude-code/1.0", session="s9", case="fix-api", operator="ann",
    )  # fmt: skip
    assert out.status == "proposed"
    assert out.author == "agent:claude-code/1.0/s9 for ann"
    assert out.source == "case:fix-api"
    found = await run_tool(state, "memory_search", {"query": "api", "status": ["proposed"]})
    assert [f.id for f in found.facts] == [out.id]
    assert (await run_tool(state, "memory_search", {"query": "api"})).facts == []


async def test_write_is_accepted_and_get_shows_history(state: StateDB) -> None:
    first = await run_tool(state, "memory_write", {"subject": "db", "predicate": "host", "object": "db1"})
    second = await run_tool(
        state, "memory_write", {"subject": "db", "predicate": "host", "object": "db2", "supersedes": first.id}
    )
    assert second.status == "accepted"
    got = await run_tool(state, "memory_get", {"id": first.id})
    assert got.fact.status == "superseded" and [f.id for f in got.history] == [first.id, second.id]
    with pytest.raises(ToolError, match="no fact #999"):
        await run_tool(state, "memory_get", {"id": 999})


async def test_tool_errors_are_readable(state: StateDB) -> None:
    with pytest.raises(ToolError, match="no searchable words"):
        await run_tool(state, "memory_search", {"query": "!!!"})
    with pytest.raises(ToolError, match="supersedes must name an accepted fact"):
        await run_tool(
            state, "memory_propose", {"subject": "a", "predicate": "b", "object": "c", "supersedes": 7}
        )


def test_oversized_arguments_fail_validation_with_the_limit() -> None:
    model = REGISTRY.get("memory_propose").input_model
    with pytest.raises(pydantic.ValidationError, match="at most 4096 characters"):
        model.model_validate({"subject": "s", "predicate": "p", "object": "x" * (memory.OBJECT_MAX + 1)})
    schema = model.model_json_schema()
    assert schema["properties"]["text"]["maxLength"] == memory.TEXT_MAX


async def test_missing_state_service_is_a_tool_error(state: StateDB) -> None:
    import types

    from tollhouse.gate.types import Call
    from tollhouse.tools.base import ToolContext
    from tollhouse.workspace import Workspace

    tool = REGISTRY.get("memory_search")
    ctx = ToolContext(
        call=Call(tool="memory_search", arguments={}), tool=tool,
        workspace=Workspace([state.path.parent]), services=types.SimpleNamespace(),
    )  # fmt: skip
    with pytest.raises(ToolError, match="state database is not available"):
        await tool.run(tool.input_model.model_validate({}), ctx)


async def test_case_tools_use_the_calls_case(state: StateDB) -> None:
    opened = await run_tool(
        state, "case_open", {"title": "Fix the API", "goal": "200s again", "tags": ["api"]}
    )
    assert opened.created and opened.case.id == "fix-the-api" and opened.case.uri == "case://fix-the-api"
    again = await run_tool(state, "case_open", {"title": "whatever", "id": "fix-the-api"})
    assert not again.created and again.case.title == "Fix the API"
    note = await run_tool(state, "case_note", {"text": "root cause: DNS"}, case="fix-the-api")
    assert note.case_id == "fix-the-api"
    h = await run_tool(
        state, "case_handoff",
        {"kind": "blocked", "summary": "waiting on infra", "blockers": ["DNS ticket OPS-1"]},
        case="fix-the-api", session="s1",
    )  # fmt: skip
    assert h.status == "blocked"
    listed = await run_tool(state, "case_list", {"status": "blocked"})
    assert [c.id for c in listed.cases] == ["fix-the-api"]
    with pytest.raises(ToolError, match="no case named"):
        await run_tool(state, "case_note", {"text": "x"})
    with pytest.raises(ToolError, match=r"case id '\.\./etc' is not valid"):
        await run_tool(state, "case_note", {"text": "x", "case_id": "../etc"})
    with pytest.raises(ToolError, match="no case 'nope'"):
        await run_tool(state, "case_note", {"text": "x", "case_id": "nope"})
    with pytest.raises(ToolError, match="blocked handoff must name its blockers"):
        await run_tool(state, "case_handoff", {"kind": "blocked", "summary": "s"}, case="fix-the-api")
