"""Facets a tool looks up before policy decides (``Tool.lookup_facets``): further values of an
argument that an ``args`` rule must also fit (allow/ask: every value, deny: any), and a lookup that
fails leaves the call undecided and the tool not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import receipt_rows, write_config
from tollhouse.config import load_config
from tollhouse.gate import Call, Gate
from tollhouse.tools.base import Effect, Registry, Tool, ToolError, ToolInput

pytestmark = pytest.mark.anyio

RAN: list[str] = []
OWNERS = {"1": "team:a", "2": "team:b", "3": "secret:x"}


class MoveIn(ToolInput):
    target: str  # where the item goes
    item: str  # which item moves: its owner is looked up


async def _lookup(args: MoveIn, services: object) -> dict[str, list[str]]:
    if args.item == "boom":
        raise ToolError("the item index is unavailable")
    if args.item == "crash":
        raise RuntimeError("/private/path/detail")
    return {"args.target": [OWNERS.get(args.item, "(none)")]}


async def _run(args: MoveIn, ctx: object) -> dict[str, str]:
    RAN.append(args.item)
    return {"moved": args.item}


TOOL = Tool(
    "x_move", "Move", "Move an item.", MoveIn, _run, frozenset({Effect.WRITE}), "x", lookup_facets=_lookup
)

POLICY = """
[[rules]]
id = "team-a"
tools = ["x_move"]
effect = "allow"
args = { target = "team:a*" }

[[rules]]
id = "team-b-asks"
tools = ["x_move"]
effect = "ask"
args = { target = "team:b*" }

[[rules]]
id = "no-secrets"
tools = ["x_move"]
effect = "deny"
args = { target = "secret:*" }
"""


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


async def _gate(workspace: Path) -> Gate:
    write_config(workspace, POLICY)
    return await Gate.open(load_config(workspace / "tollhouse.toml"), registry=Registry([TOOL]))


@pytest.mark.parametrize(
    ("target", "item", "status", "rules"),
    [
        ("team:a1", "1", "ok", ("team-a",)),  # both values in team:a
        ("team:a1", "2", "denied", ("default-deny",)),  # the looked-up value is outside every allow
        ("team:b1", "2", "needs_approval", ("team-b-asks",)),
        ("team:b1", "1", "denied", ("default-deny",)),  # ask needs every value too
        ("team:a1", "3", "denied", ("no-secrets",)),  # deny: any value
        ("secret:y", "1", "denied", ("no-secrets",)),
        ("team:a1", "9", "denied", ("default-deny",)),  # nothing found: "(none)" fits no rule
    ],
)
async def test_every_value_must_fit_an_allow_and_any_value_fits_a_deny(
    workspace: Path, target: str, item: str, status: str, rules: tuple[str, ...]
) -> None:
    async with await _gate(workspace) as gate:
        out = await gate.call(Call(tool="x_move", arguments={"target": target, "item": item}))
    assert out.status == status, out.message
    assert out.decision is not None and out.decision.rules == rules
    assert RAN == (["1"] if status == "ok" else [])


@pytest.mark.parametrize(
    ("item", "said"), [("boom", "the item index is unavailable"), ("crash", "RuntimeError")]
)
async def test_a_failed_lookup_runs_nothing_and_says_why(workspace: Path, item: str, said: str) -> None:
    async with await _gate(workspace) as gate:
        out = await gate.call(
            Call(tool="x_move", arguments={"target": "team:a1", "item": item}, call_id="c9")
        )
    assert out.status == "error"
    assert out.message == f"could not look up what x_move touches, so nothing was run: {said}"
    assert "/private/path" not in out.message
    assert RAN == []
    assert [r["kind"] for r in receipt_rows(workspace / ".tollhouse", "c9")] == ["outcome"]


def test_a_tool_that_looks_up_facets_needs_a_tool_input_model() -> None:
    from pydantic import BaseModel

    class Plain(BaseModel):
        item: str

    with pytest.raises(ValueError, match="x_bad looks up facets, so its input model must be a ToolInput"):
        Tool("x_bad", "Bad", "Bad.", Plain, _run, frozenset({Effect.WRITE}), "x", lookup_facets=_lookup)
