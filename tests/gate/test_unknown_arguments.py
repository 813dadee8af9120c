"""Every tool refuses arguments it does not know, naming them and the valid ones; nothing runs.

A model that adds ``status: "accepted"`` to a proposal, ``force: true`` to a write or misspells
``supersedes`` must not get a call that silently means something else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.conftest import receipt_rows, write_config
from tollhouse.config import load_config
from tollhouse.gate import Call, Gate
from tollhouse.profiles import render
from tollhouse.state import memory, memory_query
from tollhouse.tools import FAMILIES, build_registry
from tollhouse.tools.base import Effect, Registry, Tool, argument_names

pytestmark = pytest.mark.anyio

REGISTRY = build_registry()
ALL_TOOLS = [tool.name for tool in REGISTRY]


def test_every_family_is_covered() -> None:
    assert {tool.family for tool in REGISTRY} == set(FAMILIES)
    assert len(ALL_TOOLS) > 20


@pytest.mark.parametrize("name", ALL_TOOLS)
def test_every_input_model_forbids_extra_keys_in_its_schema(name: str) -> None:
    tool = REGISTRY.get(name)
    assert tool is not None
    assert tool.input_model.model_config.get("extra") == "forbid", name
    assert tool.input_schema().get("additionalProperties") is False, name


async def _gate(workspace: Path) -> Gate:
    write_config(workspace, render("dev"))
    return await Gate.open(load_config(workspace / "tollhouse.toml"))


@pytest.mark.parametrize("name", ALL_TOOLS)
async def test_every_tool_refuses_an_unknown_argument(workspace: Path, name: str) -> None:
    tool = REGISTRY.get(name)
    assert tool is not None
    async with await _gate(workspace) as gate:
        out = await gate.call(Call(tool=name, arguments={"zz_unknown": 1}, call_id="c1"))
    valid = ", ".join(sorted(argument_names(tool.input_model)))
    assert out.status == "error"
    expected = f"invalid arguments for {name}: unknown argument 'zz_unknown'; valid arguments: {valid}"
    assert out.message == expected
    rows = receipt_rows(workspace / ".tollhouse", "c1")
    assert [r["kind"] for r in rows] == ["outcome"]  # no intent: nothing ran
    assert rows[0]["outcome"] == "error"


# Members of the family: otherwise valid calls with one extra key that a model might hope is honoured.
SMUGGLED = [
    ("memory_propose", {"subject": "a", "predicate": "b", "object": "c", "status": "accepted"}, ["status"]),
    ("memory_propose", {"subject": "a", "predicate": "b", "object": "c", "supersede": 1}, ["supersede"]),
    ("memory_search", {"query": "x", "include_rejected": True}, ["include_rejected"]),
    ("case_open", {"title": "t", "owner": "root", "Title": "u"}, ["owner", "Title"]),
    ("case_note", {"text": "hi", "case": "other"}, ["case"]),
    ("github_get_issue", {"repo": "a/b", "number": 1, "token": "x"}, ["token"]),
    ("github_comment", {"repo": "a/b", "number": 1, "body": "hi", "skip_pinning": True}, ["skip_pinning"]),
    ("github_search_issues", {"query": "x", "visibility": "private"}, ["visibility"]),
    ("files_read", {"path": "a.txt", "follow_symlinks": True}, ["follow_symlinks"]),
    ("shell_run", {"argv": ["true"], "shell": True}, ["shell"]),
]


@pytest.mark.parametrize(("name", "args", "unknown"), SMUGGLED, ids=[f"{n}-{u[0]}" for n, _, u in SMUGGLED])
async def test_a_valid_call_with_one_extra_key_is_refused(
    workspace: Path, name: str, args: dict, unknown: list[str]
) -> None:
    (workspace / "a.txt").write_text("hello", encoding="utf-8")
    async with await _gate(workspace) as gate:
        out = await gate.call(Call(tool=name, arguments=args))
        assert out.status == "error"
        noun = "argument" if len(unknown) == 1 else "arguments"
        named = ", ".join(repr(u) for u in unknown)
        lead = f"invalid arguments for {name}: unknown {noun} {named}; valid arguments: "
        assert out.message.startswith(lead)
        facts = await memory_query.search(gate.services.state, "", statuses=list(memory.STATUSES))
        assert facts.facts == []


async def test_a_hostile_key_is_shown_escaped_and_cut(workspace: Path) -> None:
    key = "\x1b[2J\rnote" + "x" * 200
    async with await _gate(workspace) as gate:
        out = await gate.call(Call(tool="memory_get", arguments={"id": 1, key: 1}))
    assert out.status == "error"
    assert "\x1b" not in out.message and "\r" not in out.message
    assert repr(key[:64]) in out.message and "x" * 100 not in out.message


class _Loose(BaseModel):  # a third-party tool that forgot extra="forbid"
    text: str = ""


async def _loose_run(args: _Loose, ctx) -> dict:  # type: ignore[no-untyped-def]
    return {"text": args.text}


async def test_the_gate_refuses_unknown_keys_even_for_a_model_that_would_ignore_them(workspace: Path) -> None:
    write_config(
        workspace,
        """
        [[rules]]
        id = "loose"
        tools = ["x_loose"]
        effect = "allow"
        """,
    )
    config = load_config(workspace / "tollhouse.toml")
    loose = Tool("x_loose", "Loose", "Echo.", _Loose, _loose_run, frozenset({Effect.READ}), "x")
    registry = Registry([loose])
    async with await Gate.open(config, registry=registry) as gate:
        ok = await gate.call(Call(tool="x_loose", arguments={"text": "a"}))
        assert ok.status == "ok", ok.message
        out = await gate.call(Call(tool="x_loose", arguments={"text": "a", "extra": 1, "more": 2}))
    assert out.status == "error"
    assert out.message == (
        "invalid arguments for x_loose: unknown arguments 'extra', 'more'; valid arguments: text"
    )
