"""Every `tollhouse call` example a skill shows is sent through a real gate: the gate's validation
(the step before policy) must accept it. The policy has no rules, so an accepted example ends
``denied`` by ``default-deny``, never ``error``; nothing runs."""

from __future__ import annotations

import pytest

from tests.conftest import write_config
from tollhouse.adapters.examples import example_args
from tollhouse.adapters.skills import call_line
from tollhouse.adapters.spec import specs_of
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call
from tollhouse.tools import build_registry

pytestmark = pytest.mark.anyio


async def test_every_generated_example_passes_the_gates_validation(workspace) -> None:
    families = sorted({t.family for t in build_registry()})
    path = write_config(workspace, f"[tools]\nfamilies = {families!r}")
    config = load_config(path)
    async with await Gate.open(config) as gate:
        specs = specs_of(list(gate.registry))
        assert len(specs) >= 30
        failures = {}
        for spec in specs:
            args = example_args(spec.input_schema)
            outcome = await gate.call(Call(tool=spec.name, arguments=args, channel="cli"))
            if outcome.status != "denied" or outcome.decision is None:
                failures[spec.name] = (call_line(spec), outcome.status, outcome.message)
        assert failures == {}


@pytest.mark.parametrize(
    ("tool", "needs"),
    [
        ("shell_run", ("argv", "command")),
        ("memory_propose", ("object", "text")),
        ("memory_write", ("object", "text")),
        ("github_search_issues", ("repo:",)),
    ],
)
def test_examples_say_what_the_tool_needs(tool: str, needs: tuple[str, ...]) -> None:
    spec = next(s for s in specs_of(list(build_registry())) if s.name == tool)
    line = call_line(spec)
    assert any(word in line for word in needs), line


async def test_memory_example_runs(workspace) -> None:
    path = write_config(
        workspace,
        '[tools]\nfamilies = ["memory"]\n'
        '[[rules]]\nid = "propose"\ntools = ["memory_propose"]\neffect = "allow"\n',
    )
    async with await Gate.open(load_config(path)) as gate:
        spec = next(s for s in specs_of(gate) if s.name == "memory_propose")
        outcome = await gate.call(Call(tool=spec.name, arguments=example_args(spec.input_schema)))
        assert outcome.status == "ok", outcome.message
        empty = await gate.call(Call(tool=spec.name, arguments={"subject": "s", "predicate": "p"}))
        assert empty.status == "error" and empty.decision is None  # refused at validation, before policy
        assert "a fact needs an object" in (empty.message or "")


def test_search_example_names_a_repository() -> None:
    # The search tool refuses an unscoped query when it runs (after policy), so check it here.
    from tollhouse.tools.github.search import query_repos

    spec = next(s for s in specs_of(list(build_registry(["github"]))) if s.name == "github_search_issues")
    assert query_repos(example_args(spec.input_schema)["query"]) == ["octocat/hello-world"]
