"""Matching one rule against one call: a compiled fast path, and a slow path that says why.

``CallView`` holds everything a call shows policy, computed once per decision: resolved and lexical
paths, argv joined for one-regex matching, and the other facets. ``CompiledRule.matches`` is the fast
path ``Policy.decide`` uses; ``CompiledRule.explain`` re-derives the answer glob by glob for
``policy explain`` and is the naive baseline in benchmarks/policy.py. Tests check both always agree.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from tollhouse.gate.policy_rules import FACET_OF, Rule
from tollhouse.globs import Matcher, any_name_matcher, any_path_matcher, compile_name_glob, compile_path_glob
from tollhouse.tools.base import Effect, Tool
from tollhouse.workspace import PathError, ResolvedPath, Workspace

SEP = "\x00"  # between argv tokens in the joined form; a token holding it takes the slow path
MARK = "\x01"  # prefixes a guarded token, which no wildcard may cover
CASELESS = ("repos", "domains")  # GitHub names and DNS names compare without case


def name_literal(token: str) -> bool:
    return "*" not in token and "?" not in token


# ---------------------------------------------------------------------------- the call


@dataclass
class CallView:
    tool: Tool
    args: BaseModel
    facets: dict[str, list[str]]
    rels: list[str] = field(default_factory=list)
    """Resolved paths relative to their root (allow/ask test these)."""
    deny_rels: list[str] = field(default_factory=list)
    """Resolved and lexical relative paths (deny tests these)."""
    raw_paths: list[str] = field(default_factory=list)
    argv: list[str] = field(default_factory=list)
    guarded: frozenset[int] = frozenset()
    argv_plain: str | None = None
    argv_marked: str | None = None
    commands: list[str] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)
    arg_more: dict[str, list[str]] = field(default_factory=dict)
    """Further values of an argument (facet ``args.NAME``) that an ``args`` constraint must also fit."""
    builtin: tuple[str, str] | None = None
    """(rule id, why) when a built-in denies."""
    principals: frozenset[str] = frozenset()
    """The operator's name and ``group:<name>`` for each of its groups (see tollhouse/principal.py)."""


def lexical_path(raw: str, roots: tuple[Path, ...], workspace: Workspace) -> tuple[Path, str, str] | None:
    """The argument normalised without touching the disk: (operator root, path relative to it, the
    absolute text), or None if outside ``roots``. Relative arguments start at the first of ``roots``,
    which may be a client's narrower root; the name policy sees is still the operator's
    (``deploy/prod.yml``). On strings: this runs for every path of every call."""
    if not roots:
        return None
    norm = os.path.normpath(raw if os.path.isabs(raw) else os.fspath(roots[0]) + "/" + raw)
    if not any(_within(norm, os.fspath(root)) for root in roots):
        return None
    for root in workspace.roots:
        text = os.fspath(root)
        if _within(norm, text):
            return root, norm[len(text) :].lstrip("/") or ".", norm
    return None


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/") or root == "/"


def build_view(tool: Tool, args: BaseModel, workspace: Workspace, roots: tuple[Path, ...]) -> CallView:
    facets = tool.facets(args)
    view = CallView(tool=tool, args=args, facets=facets)
    writes = bool(tool.effects & {Effect.WRITE, Effect.EXEC})
    for raw in facets.get("paths") or ():
        view.raw_paths.append(raw)
        try:
            resolved = workspace.resolve(raw, roots)
        except PathError as exc:
            view.builtin = ("workspace.roots", str(exc))
            return view
        view.rels.append(resolved.rel)
        view.deny_rels.append(resolved.rel)
        lex = lexical_path(raw, roots, workspace)
        lexical = None  # the same path as resolved: judged once
        if lex is not None and lex[1] != resolved.rel:
            view.deny_rels.append(lex[1])
            lexical = ResolvedPath(lex[0], lex[1], Path(lex[2]))
        # State (databases, keys, the operator's home, credential files) is never reached by any
        # tool, read or write, under its real name or the name used.
        for candidate in (resolved, lexical):
            why = workspace.sealed_why(candidate) if candidate is not None else None
            if why is not None:
                view.builtin = ("workspace.state", f"path {candidate.rel} is {why}; no tool reaches it")  # type: ignore[union-attr]
                return view
        if writes:
            # Immutable is judged on the resolved path and on the name used, like a deny rule.
            for candidate in (resolved, lexical):
                if candidate is not None and workspace.is_immutable(candidate):
                    view.builtin = (
                        "workspace.immutable",
                        f"path {candidate.rel} is immutable and {tool.name} may write or run "
                        f"(immutable: {', '.join(dict.fromkeys(workspace.immutable_globs))})",
                    )
                    return view
    argv = facets.get("argv") or []
    if argv:
        view.argv = list(argv)
        try:
            view.guarded = frozenset(int(i) for i in facets.get("argv_guarded") or ())
        except (TypeError, ValueError):
            view.guarded = frozenset(range(len(argv)))  # unreadable guard list: guard everything
        if not any(SEP in t or MARK in t for t in argv):
            view.argv_plain = SEP.join(argv)
            view.argv_marked = SEP.join(MARK + t if i in view.guarded else t for i, t in enumerate(argv))
    view.commands = list(facets.get("command") or [])
    for key in CASELESS:
        view.names[key] = [v.rstrip(".") if key == "domains" else v for v in facets.get(key) or []]
    for key, values in facets.items():
        if key.startswith("args."):
            view.arg_more[key[5:]] = [str(v) for v in values]
    return view


def arg_values(v: CallView, name: str) -> list[str] | None:
    """The argument's value and every further value of it the call touches; None when unset."""
    value = getattr(v.args, name, None)
    if value is None:
        return None
    return [str(value), *v.arg_more.get(name, ())]


# ---------------------------------------------------------------------------- argv patterns


def _token_regex(token: str) -> str:
    if name_literal(token):
        return MARK + "?" + re.escape(token)
    body = "".join(f"[^{SEP}]*" if c == "*" else f"[^{SEP}]" if c == "?" else re.escape(c) for c in token)
    return f"(?!{MARK})" + body


def argv_regex(pattern: str) -> str:
    """One pattern as a regex over the joined argv: literal tokens may match a guarded token,
    wildcards and the trailing ``*`` may not."""
    tokens = shlex.split(pattern)
    rest = tokens[-1] == "*"
    fixed = tokens[:-1] if rest else tokens
    free = f"(?!{MARK})[^{SEP}]*"
    if not fixed:
        return f"{free}(?:{SEP}{free})*"
    body = SEP.join(_token_regex(t) for t in fixed)
    return body + (f"(?:{SEP}{free})*" if rest else "")


def argv_tokens_match(
    tokens: list[str], argv: list[str], guarded: frozenset[int], respect_guard: bool
) -> bool:
    """The token-by-token reference for one pattern (explain, and argv tokens holding NUL)."""
    rest = bool(tokens) and tokens[-1] == "*"
    fixed = tokens[:-1] if rest else tokens
    if len(argv) < len(fixed) or (not rest and len(argv) != len(fixed)):
        return False
    for i, pt in enumerate(fixed):
        if name_literal(pt):
            if argv[i] != pt:
                return False
        elif (respect_guard and i in guarded) or not compile_name_glob(pt).fullmatch(argv[i]):
            return False
    return not (respect_guard and any(i in guarded for i in range(len(fixed), len(argv))))


# ---------------------------------------------------------------------------- the rule


def _name_union(globs: list[str], caseless: bool) -> Matcher:
    # Linear-time (RE2): the values matched are the model's arguments, up to the argument size cap.
    return any_name_matcher(globs, caseless)


class CompiledRule:
    """A rule with each constraint merged into one regex."""

    def __init__(self, rule: Rule, index: int) -> None:
        self.rule = rule
        self.id = rule.id
        self.effect = rule.effect
        self.index = index
        self.deny = rule.effect == "deny"
        self.paths_rx = any_path_matcher(rule.paths) if rule.paths else None
        self.argv_patterns = [shlex.split(p) for p in rule.argv or []]
        self.argv_rx = (
            re.compile("(?:" + "|".join(f"(?:{argv_regex(p)})" for p in rule.argv) + ")")
            if rule.argv
            else None
        )
        self.name_rx: dict[str, Matcher] = {}
        for key in ("commands", "repos", "domains"):
            globs = getattr(rule, key)
            if globs:
                self.name_rx[key] = _name_union(globs, key in CASELESS)
        self.args_rx = {k: _name_union(v, False) for k, v in rule.arg_globs().items()}
        # Operator names compare without case (mail addresses); a rule for some principals is never
        # "unconstrained": it must not hide a tool from everyone else (could_allow).
        self.principals_rx = _name_union(rule.principals, True) if rule.principals else None
        self.unconstrained = not rule.constraint_keys() and self.principals_rx is None

    # -- fast path -----------------------------------------------------------------------------
    def matches(self, v: CallView) -> bool:
        deny = self.deny
        if self.principals_rx is not None:
            rx = self.principals_rx
            if not any(rx.fullmatch(p) for p in v.principals):
                return False
        if not deny:
            # Strict facets: a whole shell command line, or argv with exec-capable tokens, is only
            # allowed by a rule written for it.
            if v.commands and "commands" not in self.name_rx:
                return False
            if v.guarded and self.argv_rx is None:
                return False
        if self.unconstrained:
            return True
        rx = self.paths_rx
        if rx is not None:
            if not v.rels:
                return False
            if deny:
                if not any(rx.fullmatch(p) for p in v.deny_rels):
                    return False
            elif not all(rx.fullmatch(p) for p in v.rels):
                return False
        rx = self.argv_rx
        if rx is not None:
            if not v.argv:
                return False
            subject = v.argv_plain if deny else v.argv_marked
            if subject is None:
                if not any(argv_tokens_match(t, v.argv, v.guarded, not deny) for t in self.argv_patterns):
                    return False
            elif rx.fullmatch(subject) is None:
                return False
        for key, rx in self.name_rx.items():
            values = v.commands if key == "commands" else v.names[key]
            if not values:
                return False
            if deny:
                if not any(rx.fullmatch(x) for x in values):
                    return False
            elif not all(rx.fullmatch(x) for x in values):
                return False
        for name, rx in self.args_rx.items():
            values = arg_values(v, name)
            if values is None:
                return False
            if deny:
                if not any(rx.fullmatch(x) for x in values):
                    return False
            elif not all(rx.fullmatch(x) for x in values):
                return False
        return True

    # -- slow path that explains -----------------------------------------------------------------
    def explain(self, v: CallView) -> tuple[bool, str]:
        rule, deny = self.rule, self.deny
        if self.principals_rx is not None:
            rx = self.principals_rx
            if not any(rx.fullmatch(p) for p in v.principals):
                who = ", ".join(sorted(v.principals)) or "nobody"
                return False, f"the caller ({who}) is none of principals {', '.join(rule.principals or [])}"
        if not deny and v.commands and rule.commands is None:
            return False, "the call is a shell command line and this rule has no commands key"
        if not deny and v.guarded and rule.argv is None:
            guarded = ", ".join(v.argv[i] for i in sorted(v.guarded) if i < len(v.argv))
            return False, f"argv has exec-capable tokens ({guarded}) and this rule has no argv key"
        reasons: list[str] = []
        for key in rule.constraint_keys():
            ok, why = getattr(self, f"_why_{key if key in ('paths', 'argv', 'args') else 'names'}")(v, key)
            if not ok:
                return False, why
            reasons.append(why)
        return True, "; ".join(reasons) if reasons else f"no constraints: every {v.tool.name} call"

    def _why_paths(self, v: CallView, key: str) -> tuple[bool, str]:
        globs = self.rule.paths or []
        if not v.rels:
            return False, f"{v.tool.name} has no paths facet in this call"
        subjects = v.deny_rels if self.deny else v.rels
        hits = {p: next((g for g in globs if _path_glob(g).fullmatch(p)), None) for p in subjects}
        no_match = f"no path ({', '.join(subjects)}) matches {', '.join(globs)}"
        return self._judge(hits, globs, lambda p: f"path {p}", no_match)

    def _why_argv(self, v: CallView, key: str) -> tuple[bool, str]:
        if not v.argv:
            return False, f"{v.tool.name} has no argv facet in this call"
        shown = shlex.join(v.argv)
        for text, tokens in zip(self.rule.argv or [], self.argv_patterns, strict=True):
            if argv_tokens_match(tokens, v.argv, v.guarded, not self.deny):
                return True, f"argv `{shown}` matches `{text}`"
        if not self.deny and v.guarded:
            guarded = ", ".join(v.argv[i] for i in sorted(v.guarded) if i < len(v.argv))
            return False, (
                f"argv `{shown}` matches none of {', '.join(self.rule.argv or [])} "
                f"(exec-capable tokens {guarded} match only a literal token)"
            )
        return False, f"argv `{shown}` matches none of {', '.join(self.rule.argv or [])}"

    def _why_names(self, v: CallView, key: str) -> tuple[bool, str]:
        globs: list[str] = getattr(self.rule, key)
        facet = FACET_OF[key]
        values = v.commands if key == "commands" else v.names.get(key, [])
        if not values:
            return False, f"{v.tool.name} has no {facet} facet in this call"
        caseless = key in CASELESS
        rxs = [(g, any_name_matcher([g], caseless)) for g in globs]
        hit = {x: next((g for g, rx in rxs if rx.fullmatch(x)), None) for x in values}
        no_match = f"no {facet} value matches {', '.join(globs)}"
        return self._judge(hit, globs, lambda x: f"{facet} {x!r}", no_match)

    def _judge(
        self, hits: dict[str, str | None], globs: list[str], label: Callable[[str], str], no_match: str
    ) -> tuple[bool, str]:
        """A deny rule matches when any value matches a glob; an allow rule only when every value does."""
        if self.deny:
            for x, g in hits.items():
                if g is not None:
                    return True, f"{label(x)} matches {g}"
            return False, no_match
        for x, g in hits.items():
            if g is None:
                return False, f"{label(x)} matches none of {', '.join(globs)}"
        return True, "; ".join(f"{label(x)} matches {g}" for x, g in hits.items())

    def _why_args(self, v: CallView, key: str) -> tuple[bool, str]:
        said = []
        for name, globs in self.rule.arg_globs().items():
            values = arg_values(v, name)
            if values is None:
                return False, f"argument {name} is not set in this call"
            first, more = values[0], values[1:]
            hits = {x: next((g for g in globs if compile_name_glob(g).fullmatch(x)), None) for x in values}
            if len(hits) == 1 or not more:
                g = hits[first]
                if g is None:
                    return False, f"argument {name}={first!r} matches none of {', '.join(globs)}"
                said.append(f"argument {name}={first!r} matches {g}")
                continue
            ok, why = self._judge(hits, globs, lambda x, n=name: f"argument {n} value {x!r}", "")
            if not ok:
                return False, why or f"no value of argument {name} matches {', '.join(globs)}"
            said.append(why)
        return True, "; ".join(said)


def _path_glob(glob: str) -> Matcher:
    return compile_path_glob(glob)
