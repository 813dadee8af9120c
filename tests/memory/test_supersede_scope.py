"""A memory write scoped by subject can only supersede facts in that scope: the policy's `args`
constraint on `subject` applies to the subject of the fact a call would retire, through the real
gate, a real state database and the real policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import receipt_rows, write_config
from tollhouse.config import load_config
from tollhouse.gate import Call, Gate
from tollhouse.state import memory
from tollhouse.tools import build_registry

pytestmark = pytest.mark.anyio

SCOPED = """
[[rules]]
id = "runbook-memory"
tools = ["memory_write", "memory_propose"]
effect = "allow"
args = { subject = ["runbook:*", "ops:*"] }

[[rules]]
id = "no-secrets"
tools = ["memory_*"]
effect = "deny"
args = { subject = "secret:*" }

[[rules]]
id = "open-notes"
tools = ["memory_write"]
effect = "allow"
args = { subject = "notes:*" }
"""

DEFAULT_DENY = (
    "denied: no rule allows {tool} with these arguments (default deny); see every rule considered with: "
    "tollhouse policy explain {tool} 'JSON' (JSON = the call's arguments)"
)


async def _seed(gate: Gate) -> dict[str, int]:
    ids = {}
    for subject in ("deploy:prod", "runbook:deploy", "ops:oncall", "secret:key", "notes:x"):
        fact = await memory.add_fact(
            gate.services.state, subject=subject, predicate="says", object=f"{subject} v1",
            author="operator:me", status="accepted",
        )  # fmt: skip
        ids[subject] = fact.id
    return ids


async def _facts(gate: Gate) -> list[tuple[int, str, str]]:
    cur = await gate.services.state.conn.execute("SELECT id, subject, status FROM facts ORDER BY id")
    return [tuple(r) for r in await cur.fetchall()]  # type: ignore[misc]


async def _open(workspace: Path) -> Gate:
    write_config(workspace, SCOPED)
    return await Gate.open(load_config(workspace / "tollhouse.toml"))


@pytest.mark.parametrize("tool", ["memory_write", "memory_propose"])
@pytest.mark.parametrize("target", ["deploy:prod", "notes:x"])
async def test_a_scoped_write_cannot_retire_a_fact_outside_its_scope(
    workspace: Path, tool: str, target: str
) -> None:
    async with await _open(workspace) as gate:
        ids = await _seed(gate)
        before = await _facts(gate)
        out = await gate.call(
            Call(
                tool=tool,
                arguments={
                    "subject": "runbook:x",
                    "predicate": "p",
                    "object": "o",
                    "supersedes": ids[target],
                },
            )
        )
        assert out.status == "denied"
        assert out.message == DEFAULT_DENY.format(tool=tool)
        assert await _facts(gate) == before  # nothing written, nothing retired


async def test_a_scoped_write_may_retire_a_fact_in_scope(workspace: Path) -> None:
    async with await _open(workspace) as gate:
        ids = await _seed(gate)
        for subject in ("runbook:deploy", "ops:oncall"):
            out = await gate.call(
                Call(tool="memory_write", arguments={"subject": "runbook:x", "predicate": "p", "object": "o",
                                                     "supersedes": ids[subject]})
            )  # fmt: skip
            assert out.status == "ok", out.message
            old = await memory.get_fact(gate.services.state, ids[subject])
            assert old is not None and old.status == "superseded" and old.superseded_by == out.result["id"]
            (row,) = [
                r for r in receipt_rows(workspace / ".tollhouse", out.call_id) if r["kind"] == "outcome"
            ]
            details = json.loads(row["details"])
            assert details["superseded_subject"] == subject and details["supersedes"] == ids[subject]


async def test_a_deny_rule_on_subject_protects_facts_from_being_retired(workspace: Path) -> None:
    async with await _open(workspace) as gate:
        ids = await _seed(gate)
        before = await _facts(gate)
        for tool, subject in (("memory_write", "notes:y"), ("memory_propose", "runbook:y")):
            out = await gate.call(
                Call(tool=tool, arguments={"subject": subject, "predicate": "p", "object": "o",
                                           "supersedes": ids["secret:key"]})
            )  # fmt: skip
            assert out.status == "denied"
            assert out.decision is not None and out.decision.rules == ("no-secrets",)
            assert out.message == (
                "denied by rule no-secrets: argument subject value 'secret:key' matches secret:*"
            )
        assert await _facts(gate) == before


async def test_superseding_a_fact_that_does_not_exist_is_out_of_scope(workspace: Path) -> None:
    async with await _open(workspace) as gate:
        await _seed(gate)
        before = await _facts(gate)
        out = await gate.call(
            Call(
                tool="memory_write",
                arguments={"subject": "runbook:x", "predicate": "p", "object": "o", "supersedes": 99},
            )
        )
        assert out.status == "denied" and out.message == DEFAULT_DENY.format(tool="memory_write")
        assert await _facts(gate) == before


async def test_explain_without_a_lookup_judges_the_call_out_of_scope(workspace: Path) -> None:
    write_config(workspace, SCOPED)
    from tollhouse.gate.policy import Policy

    registry = build_registry(["memory"])
    policy = Policy.load(load_config(workspace / "tollhouse.toml"), registry)
    tool = registry.get("memory_write")
    assert tool is not None
    args = tool.input_model.model_validate(
        {"subject": "runbook:x", "predicate": "p", "object": "o", "supersedes": 3}
    )
    explained = policy.explain(tool, args)
    assert explained.decision.effect == "deny"
    rows = {r[0]: r for r in explained.rules}
    assert rows["runbook-memory"][2] is False
    assert rows["runbook-memory"][3] == (
        "argument subject value '(subject of fact #3: not looked up)' matches none of runbook:*, ops:*"
    )
    plain = tool.input_model.model_validate({"subject": "runbook:x", "predicate": "p", "object": "o"})
    assert policy.decide(tool, plain).effect == "allow"
