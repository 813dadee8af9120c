"""``tollhouse policy check``: the examples self-test and lint findings against a tool registry."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from tollhouse.gate.arguments import validate_arguments
from tollhouse.gate.policy_rules import Finding, Rule, key_line, rule_blocks
from tollhouse.globs import compile_name_glob
from tollhouse.tools.base import Registry, Tool

if TYPE_CHECKING:
    from tollhouse.gate.policy import Policy

_EXAMPLE_HEADER = re.compile(r"^\s*\[\[\s*rules\s*\.\s*examples\s*\]\]", re.M)


def example_line(policy: Policy, rule_index: int, example_index: int) -> int | None:
    """Line of the example's ``[[rules.examples]]`` header, else of the rule's ``examples`` key."""
    config = policy.config
    rule = policy.rules[rule_index]
    blocks = rule_blocks(config.text)
    if len(blocks) == len(policy.rules):
        first, last = blocks[rule_index]
        lines = config.text.splitlines()
        headers = [n for n in range(first, min(last, len(lines)) + 1) if _EXAMPLE_HEADER.match(lines[n - 1])]
        if example_index < len(headers):
            return headers[example_index]
    return key_line(config, rule_index, "examples", rule.id)


def check_examples(policy: Policy, registry: Registry) -> list[Finding]:
    """Every example must decide as its rule says, under the whole policy (not just its rule)."""
    findings: list[Finding] = []
    for index, rule in enumerate(policy.rules):
        for number, example in enumerate(rule.examples):
            line = example_line(policy, index, number)
            where = f"rule {rule.id}: example {number}"
            tool = registry.get(example.tool)
            if tool is None:
                findings.append(
                    Finding(
                        "error", rule.id, line, f"{where}: unknown tool {example.tool}; {_known(registry)}"
                    )
                )
                continue
            try:
                args = validate_arguments(tool.input_model, example.args)  # strictly, as the gate does
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
                )
                findings.append(
                    Finding(
                        "error", rule.id, line, f"{where}: args are not valid for {tool.name}: {problems}"
                    )
                )
                continue
            decision = policy.decide(tool, args)
            if decision.effect != example.expect:
                shown = json.dumps(example.args, ensure_ascii=False, sort_keys=True)
                findings.append(
                    Finding(
                        "error",
                        rule.id,
                        line,
                        f"{where} ({tool.name} {shown}) expects {example.expect}, but the policy decides "
                        f"{decision.effect} ({decision.reason})",
                    )
                )
    return findings


def _known(registry: Registry) -> str:
    names = registry.names()
    return "known tools: " + (", ".join(names) if names else "none (is [tools] configured?)")


def covered(rule: Rule, registry: Registry) -> list[Tool]:
    rxs = [compile_name_glob(g) for g in rule.tools]
    return [t for t in registry if any(rx.fullmatch(t.name) for rx in rxs)]


def _can_have(tool: Tool, key: str, rule: Rule) -> bool:
    """Whether calls of ``tool`` can ever show what constraint ``key`` looks at."""
    if key == "args":
        return all(name in tool.input_model.model_fields for name in rule.arg_globs())
    if tool.facets_of is not None:
        return True  # custom facets: cannot tell statically
    return key == "paths" and bool(tool.path_fields)


def lint(policy: Policy, registry: Registry) -> list[Finding]:
    findings = check_examples(policy, registry)
    if not policy.rules:
        findings.append(Finding("warning", None, None, "no rules: every call is denied (default deny)"))
    blanket_deny = [
        r for r in policy.rules if r.effect == "deny" and not r.constraint_keys() and not r.principals
    ]
    for index, rule in enumerate(policy.rules):
        line = key_line(policy.config, index, None, rule.id)
        tools = covered(rule, registry)
        for glob in rule.tools:
            rx = compile_name_glob(glob)
            if not any(rx.fullmatch(t.name) for t in registry):
                findings.append(
                    Finding(
                        "warning",
                        rule.id,
                        key_line(policy.config, index, "tools", rule.id),
                        f"rule {rule.id}: tools glob {glob!r} matches no tool; {_known(registry)}",
                    )
                )
        if not tools:
            findings.append(
                Finding("warning", rule.id, line, f"rule {rule.id} never applies: it covers no tool")
            )
            continue
        for key in rule.constraint_keys():
            if not any(_can_have(t, key, rule) for t in tools):
                what = f"arguments {', '.join(rule.arg_globs())}" if key == "args" else f"a {key} facet"
                findings.append(
                    Finding(
                        "warning",
                        rule.id,
                        key_line(policy.config, index, key, rule.id),
                        f"rule {rule.id} can never match: none of its tools "
                        f"({', '.join(t.name for t in tools)}) has {what}",
                    )
                )
        if rule.effect != "deny":
            shadows = [d for d in blanket_deny if covered(d, registry)]
            names = {t.name for t in tools}
            by = [d.id for d in shadows if {t.name for t in covered(d, registry)} & names]
            denied = (
                set().union(*({t.name for t in covered(d, registry)} for d in shadows)) if shadows else set()
            )
            if names <= denied:
                findings.append(
                    Finding(
                        "warning",
                        rule.id,
                        line,
                        f"rule {rule.id} ({rule.effect}) is shadowed: deny rule(s) {', '.join(by)} "
                        f"deny every call of its tools, and deny wins",
                    )
                )
    findings += _unsandboxed_code(policy)
    findings.sort(key=lambda f: (f.line or 0, f.level != "error"))
    return findings


def _unsandboxed_code(policy: Policy) -> list[Finding]:
    """Loud warnings for rules that let shell_run run workspace code unsandboxed (tools/shell/sandbox.py)."""
    from tollhouse.tools.shell.sandbox import unsandboxed_code_warnings

    index = {rule.id: i for i, rule in enumerate(policy.rules)}
    found = unsandboxed_code_warnings(policy.config.section("shell"), policy.rules)
    return [Finding("warning", r, key_line(policy.config, index[r], None, r), msg) for r, msg in found]
