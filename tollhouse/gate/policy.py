"""The policy engine: rules from tollhouse.toml, compiled once, deciding in microseconds.

Order of judgement for one call:
1. built-ins: a path outside the roots denies (``workspace.roots``); a path in the state directory,
   the operator's home or a credential file denies for every tool (``workspace.state``); a write/exec
   tool touching an immutable path (every ``.git`` included) denies (``workspace.immutable``),
   whatever the rules say. Rules and built-ins see paths named from the operator's roots, never from a
   root a client announced (a client root only narrows);
2. deny rules (any matching value denies), then ask rules, then allow rules (every value must match);
3. nothing matched: deny (``default-deny``).
The file format lives in policy_rules.py, matching in policy_match.py, the index in policy_index.py,
lint and the examples self-test in policy_lint.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tollhouse.config import Config
from tollhouse.gate.policy_index import RuleIndex
from tollhouse.gate.policy_match import CallView, CompiledRule, build_view
from tollhouse.gate.policy_rules import BUILTIN_IDS, Finding, PolicyError, Rule, parse_rules
from tollhouse.gate.types import Decision
from tollhouse.tools.base import Registry, Tool
from tollhouse.workspace import PathJudge

__all__ = ["Explanation", "Finding", "Policy", "PolicyError", "Rule"]

BUILTIN_NOTES = {
    "workspace.roots": "every path argument must resolve inside a workspace root",
    "workspace.state": "no tool reaches the state directory, the operator's home or credential files",
    "workspace.immutable": "a write/exec tool may not touch a workspace.immutable path (every .git built in)",
    "default-deny": "a call no rule allows or asks for is denied",
}


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    rules: list[tuple[str, str, bool, str]] = field(default_factory=list)
    """(rule id, effect, matched, why) for the built-ins and every rule covering the tool."""

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "decision": {
                "effect": d.effect,
                "rules": list(d.rules),
                "reason": d.reason,
                "policy_hash": d.policy_hash,
            },
            "rules": [{"id": i, "effect": e, "matched": m, "why": w} for i, e, m, w in self.rules],
        }


class Policy:
    """A loaded, compiled policy. Immutable after ``load``; safe to share between tasks."""

    def __init__(self, config: Config, rules: list[Rule]) -> None:
        self.config = config
        self.workspace = config.workspace
        self.sha256 = hashlib.sha256(config.text.encode()).hexdigest()
        self.rules = rules
        self.compiled = [CompiledRule(rule, i) for i, rule in enumerate(rules)]
        self.index = RuleIndex(self.compiled)
        self.path_judgements: dict[Any, Any] = {}
        """Compiled per-path judgements by (tool, approved rules); see policy_paths.py."""

    @classmethod
    def load(cls, config: Config, registry: Registry | None = None) -> Policy:
        """Compile the config's rules; with a registry, also run every rule's examples.

        Raises PolicyError (file, line, rule id) for anything it cannot read exactly.
        """
        policy = cls(config, parse_rules(config))
        if registry is not None:
            from tollhouse.gate.policy_lint import check_examples

            errors = check_examples(policy, registry)
            if errors:
                first = errors[0]
                raise PolicyError(first.message, file=config.path, line=first.line, rule_id=first.rule_id)
        return policy

    # ------------------------------------------------------------------------------- deciding
    def _view(
        self,
        tool: Tool,
        args: BaseModel,
        roots: tuple[Path, ...] | None,
        principals: frozenset[str] = frozenset(),
    ) -> CallView:
        view = build_view(tool, args, self.workspace, roots if roots is not None else self.workspace.roots)
        view.principals = principals
        return view

    def decide(
        self,
        tool: Tool,
        args: BaseModel,
        *,
        roots: tuple[Path, ...] | None = None,
        principals: frozenset[str] = frozenset(),
    ) -> Decision:
        """``principals``: the operator and its ``group:<name>``s, which rules' ``principals`` match."""
        return self.decide_view(self._view(tool, args, roots, principals))

    def decide_view(self, view: CallView) -> Decision:
        """The decision for an already built view (benchmarks time this part on its own)."""
        tool, args = view.tool, view.args
        if view.builtin is not None:
            rule_id, why = view.builtin
            return Decision("deny", (rule_id,), f"denied by built-in rule {rule_id}: {why}", self.sha256)
        plan = self.index.plan(tool.name)
        matched = plan.deny.matched(view)
        if matched:
            return self._decided("deny", matched, view)
        matched = plan.ask.matched(view)
        if matched:
            return self._decided("ask", matched, view)
        matched = plan.allow.matched(view)
        if matched:
            return self._decided("allow", matched, view)
        return Decision("deny", ("default-deny",), self._default_reason(tool, args), self.sha256)

    def _decided(self, effect: str, matched: list[CompiledRule], view: CallView) -> Decision:
        ids = tuple(r.id for r in matched)
        first = matched[0]
        named = f"rule {first.id}" if len(ids) == 1 else f"rules {', '.join(ids)}"
        if effect == "allow":
            reason = f"allowed by {named}"  # short on the hot path; `policy explain` says more
        else:
            _, why = first.explain(view)
            lead = "denied by" if effect == "deny" else "approval required by"
            reason = f"{lead} {named}: {why}"
            if first.rule.description:
                reason += f" ({first.rule.description})"
        return Decision(effect, ids, reason, self.sha256)  # type: ignore[arg-type]

    def _default_reason(self, tool: Tool, args: BaseModel) -> str:
        # Kept cheap (no argument dump): this is the most common decision for a probing agent.
        return (
            f"denied: no rule allows {tool.name} with these arguments (default deny); "
            f"see every rule considered with: tollhouse policy explain {tool.name} 'JSON' "
            "(JSON = the call's arguments)"
        )

    def explain(
        self,
        tool: Tool,
        args: BaseModel,
        *,
        roots: tuple[Path, ...] | None = None,
        principals: frozenset[str] = frozenset(),
    ) -> Explanation:
        decision = self.decide(tool, args, roots=roots, principals=principals)
        view = self._view(tool, args, roots, principals)
        rows: list[tuple[str, str, bool, str]] = []
        builtin = view.builtin[0] if view.builtin else None
        for rule_id in ("workspace.roots", "workspace.state", "workspace.immutable"):
            hit = builtin == rule_id
            why = view.builtin[1] if hit and view.builtin else BUILTIN_NOTES[rule_id] + ": not triggered"
            rows.append((rule_id, "deny", hit, why))
        for rule in self.index.covering(tool.name):
            if builtin is not None:
                rows.append((rule.id, rule.effect, False, "not evaluated: a built-in rule denied first"))
                continue
            ok, why = rule.explain(view)
            rows.append((rule.id, rule.effect, ok, why))
        hit = decision.rules == ("default-deny",)
        rows.append(("default-deny", "deny", hit, BUILTIN_NOTES["default-deny"]))
        return Explanation(decision, rows)

    def path_judge(
        self,
        tool: Tool,
        args: BaseModel,
        approved: tuple[str, ...] = (),
        *,
        principals: frozenset[str] = frozenset(),
    ) -> PathJudge:
        """The judgement a tool applies to every file it opens or returns beyond its path arguments
        (for the same operator: a deny rule for some principals hides their files from walkers too)."""
        from tollhouse.gate.policy_paths import PolicyPathJudge

        return PolicyPathJudge(self, tool, args, approved=approved, principals=principals)

    def could_allow(self, tool: Tool | str) -> bool:
        """False when no allow/ask rule covers the tool, or an unconstrained deny rule does."""
        name = tool if isinstance(tool, str) else tool.name
        plan = self.index.plan(name)
        if any(r.unconstrained for r in plan.deny.rules):
            return False
        return bool(plan.ask.rules or plan.allow.rules)

    # ------------------------------------------------------------------------------- reporting
    def lint(self, registry: Registry) -> list[Finding]:
        from tollhouse.gate.policy_lint import lint

        return lint(self, registry)

    def line_of(self, rule_id: str) -> int | None:
        from tollhouse.gate.policy_rules import key_line

        for i, rule in enumerate(self.rules):
            if rule.id == rule_id:
                return key_line(self.config, i, None, rule_id)
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.config.path) if self.config.path else None,
            "sha256": self.sha256,
            "precedence": "built-ins, then deny, then ask, then allow; no matching rule denies",
            "workspace": {
                "roots": [str(r) for r in self.workspace.roots],
                "immutable": list(dict.fromkeys(self.workspace.immutable_globs)),
            },
            "builtins": [{"id": i, "effect": "deny", "note": BUILTIN_NOTES[i]} for i in BUILTIN_IDS],
            "rules": [r.model_dump(mode="json", exclude_none=True) for r in self.rules],
        }
