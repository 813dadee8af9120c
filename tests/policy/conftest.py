"""Build a real workspace, a real tollhouse.toml and a policy over the fake tools."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tollhouse.config import parse_config
from tollhouse.gate.policy import Policy
from tollhouse.gate.types import Decision
from tollhouse.tools import build_registry
from tollhouse.tools.base import Registry

# Two lines, as the line-number assertions expect; only the fake tools, not the built-in families.
HEADER = """\
tools.families = []
tools.modules = ["tests.policy.fake_tools"]
"""


def registry() -> Registry:
    return build_registry([], ["tests.policy.fake_tools"])


class Env:
    def __init__(self, root: Path, body: str, *, examples: bool = True) -> None:
        self.root = root
        self.path = root / "tollhouse.toml"
        self.path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
        self.config = parse_config(self.path.read_text(encoding="utf-8"), self.path)
        self.registry = registry()
        self.policy = Policy.load(self.config, self.registry if examples else None)

    def decide(self, tool: str, **args: Any) -> Decision:
        t = self.registry.get(tool)
        assert t is not None
        decision = self.policy.decide(t, t.input_model(**args))
        # explain must always tell the same story as decide
        exp = self.policy.explain(t, t.input_model(**args))
        assert exp.decision == decision
        matched = {r[0] for r in exp.rules if r[2]}
        assert set(decision.rules) <= matched
        if decision.rules != ("default-deny",) and not decision.rules[0].startswith("workspace."):
            effects = {r[0]: r[1] for r in exp.rules}
            deciding = [r[0] for r in exp.rules if r[2] and r[1] == decision.effect and r[0] in effects]
            assert tuple(deciding) == decision.rules
        return decision


@pytest.fixture
def make(workspace: Path) -> Callable[..., Env]:
    def _make(body: str, **kw: Any) -> Env:
        return Env(workspace, body, **kw)

    return _make
