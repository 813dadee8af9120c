"""Which rules can possibly match a call, found without looking at every rule.

Per tool name (cached on first use) the applicable rules are split by effect. Within an effect, a
rule whose first constraint is anchored on a literal (``src/**`` on segment ``src``, ``git *`` on
token ``git``, ``owner/*`` on ``owner``) is filed under that literal; the call looks up its own
literals and checks only those rules plus the unanchored ones. The index only narrows: every
candidate is still checked in full by ``CompiledRule.matches``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable

from tollhouse.gate.policy_match import SEP, CallView, CompiledRule, name_literal
from tollhouse.globs import any_path_matcher, compile_name_glob

_GLOB_CHARS = frozenset("*?[]")
CHUNK = 32


def _path_key(glob: str) -> str | None:
    """A literal every matching path shows: its first segment, its file name, or its extension."""
    g = glob.strip()
    if g.startswith("./"):
        g = g[2:]
    segments = g.strip("/").split("/")
    first, last = segments[0], segments[-1]
    if first and not (set(first) & _GLOB_CHARS):
        return "/" + first
    if last and not (set(last) & _GLOB_CHARS):
        return "=" + last
    ext = last.rsplit(".", 1)[1] if "." in last else ""
    if ext and not (set(ext) & _GLOB_CHARS) and last != "**":
        return "." + ext
    return None


def _path_call_keys(rel: str) -> tuple[str, ...]:
    base = rel.rsplit("/", 1)[-1]
    keys = ("/" + rel.split("/", 1)[0], "=" + base)
    return (*keys, "." + base.rsplit(".", 1)[1]) if "." in base else keys


def _argv_key(pattern: str) -> str | None:
    """The pattern's leading literal tokens, up to two (``git diff`` files apart from ``git log``)."""
    tokens = shlex.split(pattern)
    if tokens[-1] == "*":
        tokens = tokens[:-1]
    lead = []
    for token in tokens[:2]:
        if not name_literal(token):
            break
        lead.append(token)
    return SEP.join(lead) if lead else None


def _command_key(glob: str) -> str | None:
    # The literal text before the first space must equal the command's text before its first space.
    first = glob.split(" ", 1)[0]
    return first if first and name_literal(first) else None


def _repo_key(glob: str) -> str | None:
    owner = glob.split("/", 1)[0]
    return owner.lower() if owner and owner.isascii() and name_literal(owner) else None


KEYERS: dict[str, Callable[[str], str | None]] = {
    "argv": _argv_key,
    "paths": _path_key,
    "commands": _command_key,
    "repos": _repo_key,
}


class EffectGroup:
    """The rules of one effect that apply to one tool."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.rules = rules
        self.scan: list[CompiledRule] = []
        self.buckets: dict[str, dict[str, list[CompiledRule]]] = {}
        for rule in rules:
            placed = False
            for kind, keyer in KEYERS.items():
                globs = getattr(rule.rule, kind)
                if not globs:
                    continue
                keys = [keyer(g) for g in globs]
                if all(k is not None for k in keys):
                    table = self.buckets.setdefault(kind, {})
                    for key in dict.fromkeys(keys):
                        table.setdefault(key, []).append(rule)  # type: ignore[arg-type]
                    placed = True
                    break
            if not placed:
                self.scan.append(rule)
        # Unanchored path rules (``*/tmp/**``) are screened in chunks: one regex per chunk says
        # whether any of its rules could match any path of the call.
        self.screened: list[tuple[re.Pattern[str], list[CompiledRule]]] = []
        path_scan = [r for r in self.scan if r.rule.paths]
        if len(path_scan) > 4:
            self.scan = [r for r in self.scan if not r.rule.paths]
            for i in range(0, len(path_scan), CHUNK):
                chunk = path_scan[i : i + CHUNK]
                globs = [g for r in chunk for g in r.rule.paths or []]
                self.screened.append((any_path_matcher(globs), chunk))

    def _call_keys(self, kind: str, v: CallView) -> Iterable[str] | None:
        """The call's literals for ``kind``; None means "cannot say, check every filed rule"."""
        if kind == "paths":
            return {k for p in v.deny_rels for k in _path_call_keys(p)}
        if kind == "argv":
            return (v.argv[0], SEP.join(v.argv[:2])) if len(v.argv) > 1 else v.argv[:1]
        if kind == "commands":
            return {c.split(" ", 1)[0] for c in v.commands}
        values = v.names.get("repos", [])
        if not all(x.isascii() for x in values):
            return None
        return {x.split("/", 1)[0].lower() for x in values}

    def matched(self, v: CallView) -> list[CompiledRule]:
        out = [r for r in self.scan if r.matches(v)]
        sort = False
        if self.screened and v.deny_rels:
            for rx, chunk in self.screened:
                if any(rx.fullmatch(p) for p in v.deny_rels):
                    out.extend(r for r in chunk if r.matches(v))
                    sort = True
        if not self.buckets:
            if sort:
                out.sort(key=lambda r: r.index)
            return out
        seen: set[int] = set()
        for kind, table in self.buckets.items():
            keys = self._call_keys(kind, v)
            lists = table.values() if keys is None else [table[k] for k in keys if k in table]
            for rules in lists:
                for r in rules:
                    if r.index not in seen:
                        seen.add(r.index)
                        if r.matches(v):
                            out.append(r)
        if seen or sort:
            out.sort(key=lambda r: r.index)
        return out


class ToolPlan:
    def __init__(self, rules: list[CompiledRule]) -> None:
        self.rules = rules
        self.deny = EffectGroup([r for r in rules if r.effect == "deny"])
        self.ask = EffectGroup([r for r in rules if r.effect == "ask"])
        self.allow = EffectGroup([r for r in rules if r.effect == "allow"])


class RuleIndex:
    """Tool name -> ToolPlan, built on first use and kept (a policy never changes after load)."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.rules = rules
        self._literal: dict[str, list[CompiledRule]] = {}
        self._wild: list[tuple[re.Pattern[str], CompiledRule]] = []
        for rule in rules:
            for glob in dict.fromkeys(rule.rule.tools):
                if name_literal(glob):
                    self._literal.setdefault(glob, []).append(rule)
                else:
                    self._wild.append((compile_name_glob(glob), rule))
        self._plans: dict[str, ToolPlan] = {}

    def covering(self, tool_name: str) -> list[CompiledRule]:
        """Every rule whose tools globs cover ``tool_name``, in file order."""
        found = {r.index: r for r in self._literal.get(tool_name, [])}
        for rx, rule in self._wild:
            if rule.index not in found and rx.fullmatch(tool_name):
                found[rule.index] = rule
        return [found[i] for i in sorted(found)]

    def plan(self, tool_name: str) -> ToolPlan:
        plan = self._plans.get(tool_name)
        if plan is None:
            plan = self._plans[tool_name] = ToolPlan(self.covering(tool_name))
        return plan
