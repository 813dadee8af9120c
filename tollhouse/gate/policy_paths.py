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

It is compiled once per (tool, approved rules) and kept on the policy: the relevant rules are filed
in the same literal index ``Policy.decide`` uses (``policy_index.EffectGroup``: a rule on
``secrets/**`` is only looked at for paths under ``secrets``), and a candidate is checked in full by
the rule's own matcher, its other constraints (``args``) judged on this call, exactly as for the
call's decision. benchmarks/paths.py times it per path at 10 to 10,000 rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from tollhouse.gate.policy_index import EffectGroup
from tollhouse.gate.policy_match import CallView, CompiledRule
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
        principals: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(policy.workspace)
        self._policy = policy
        self._key = (tool.name, approved)
        self._group: EffectGroup | None = None
        # A view of this call, with its paths swapped per file: args constraints are judged on the
        # call itself, exactly as they were for its decision.
        self._view = CallView(
            tool=tool, args=args, facets={}, rels=["."], deny_rels=["."], principals=principals
        )

    def _compile(self) -> EffectGroup:
        """The relevant rules, indexed, built on first use and kept on the policy per (tool, approved
        rules): a policy never changes after load, and most calls never walk."""
        cache: dict[tuple[str, tuple[str, ...]], EffectGroup] = self._policy.path_judgements
        group = cache.get(self._key)
        if group is None:
            name, approved = self._key
            rules: dict[int, CompiledRule] = {}
            for tool_name in dict.fromkeys((name, READER)):
                plan = self._policy.index.plan(tool_name)
                for effect in (plan.deny, plan.ask):
                    for rule in effect.rules:
                        if rule.rule.paths and rule.id not in approved:
                            rules[rule.index] = rule
            group = cache[self._key] = EffectGroup([rules[i] for i in sorted(rules)])
        return group

    def rule_for(self, path: ResolvedPath) -> str | None:
        builtin = super().rule_for(path)
        if builtin is not None:
            return builtin
        if self._group is None:
            self._group = self._compile()
        if not self._group.rules:
            return None
        # One call's judge runs in one thread: its view is reused, only its path changes.
        view = self._view
        view.rels[0] = view.deny_rels[0] = path.rel
        matched = self._group.matched(view)
        if not matched:
            return None
        # A file both denied and asked about is named as denied; otherwise file order.
        return next((r.id for r in matched if r.deny), matched[0].id)
