"""The per-path judgement the gate hands a file tool: policy's path rules, applied to every file the
tool would open or return, not only to its path arguments.

A call is decided once, on its arguments (``files_search path="."`` is allowed). The files a walker
then meets (``.env``, ``keys/id_rsa``) were never path arguments, so this judge asks the same rules
about each of them:

* the built-ins (``workspace.state``: the state directory, the operator's home, credential files);
* every **deny** rule with a ``paths`` key covering this tool, or covering ``files_read`` (the content
  or name of a file the model may not read is not revealed by another tool either);
* every **ask** rule of the same kinds: nobody was asked about this file, so it is withheld, except
  under the ask rules a person already approved this very call for.

It is compiled once per call: one regex over every relevant path glob screens each path (a miss, the
common case, costs one ``fullmatch``), and only a hit is checked in full by the rule's own matcher,
with its other constraints (``args``) judged on this call, exactly as ``Policy.decide`` would.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from pydantic import BaseModel

from tollhouse.gate.policy_match import CallView, CompiledRule
from tollhouse.globs import any_path_matcher
from tollhouse.tools.base import Tool
from tollhouse.workspace import PathJudge, ResolvedPath

if TYPE_CHECKING:
    from tollhouse.gate.policy import Policy

READER = "files_read"
"""The tool whose path rules every walker also honours: what it may not read, nobody shows."""


class PolicyPathJudge(PathJudge):
    def __init__(
        self,
        policy: Policy,
        tool: Tool,
        args: BaseModel,
        *,
        approved: tuple[str, ...] = (),
    ) -> None:
        super().__init__(policy.workspace)
        self._policy = policy
        self._key = (tool.name, approved)
        self._compiled: tuple[list[CompiledRule], re.Pattern[str] | None] | None = None
        # A view of this call, with its paths swapped per file: args constraints are judged on the
        # call itself, exactly as they were for its decision.
        self._view = CallView(tool=tool, args=args, facets={})

    def _compile(self) -> tuple[list[CompiledRule], re.Pattern[str] | None]:
        """The rules and the screening regex, built on first use and kept on the policy per (tool,
        approved rules): a policy never changes after load, and most calls never walk."""
        cache: dict[tuple[str, tuple[str, ...]], tuple[list[CompiledRule], re.Pattern[str] | None]]
        cache = self._policy.path_judgements
        found = cache.get(self._key)
        if found is None:
            name, approved = self._key
            rules: dict[int, CompiledRule] = {}
            for tool_name in dict.fromkeys((name, READER)):
                plan = self._policy.index.plan(tool_name)
                for group in (plan.deny, plan.ask):
                    for rule in group.rules:
                        if rule.rule.paths and rule.id not in approved:
                            rules[rule.index] = rule
            # Deny rules first, then file order: a file both denied and asked about is named as denied.
            ordered = sorted(rules.values(), key=lambda r: (r.effect != "deny", r.index))
            globs = [g for r in ordered for g in r.rule.paths or []]
            found = cache[self._key] = (ordered, any_path_matcher(globs) if globs else None)
        return found

    def rule_for(self, path: ResolvedPath) -> str | None:
        builtin = super().rule_for(path)
        if builtin is not None:
            return builtin
        if self._compiled is None:
            self._compiled = self._compile()
        rules, screen = self._compiled
        rel = path.rel
        if screen is None or screen.fullmatch(rel) is None:
            return None
        view = dataclasses.replace(self._view, rels=[rel], deny_rels=[rel])
        for rule in rules:
            # An ask rule is an allow-style matcher (every path must match): with one path, the same.
            if rule.matches(view):
                return rule.id
        return None
