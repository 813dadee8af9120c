"""The policy file format: the ``[[rules]]`` model, its checks, and errors that point at a line.

Everything here runs once, at load. A rule that cannot be understood exactly stops the load
(fail closed) with the file, the line and the rule id, because a half-understood rule is a rule that
silently allows or silently fails to deny.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tollhouse.config import Config, ConfigError
from tollhouse.globs import GlobError, compile_path_glob, path_glob_regex

EffectName = Literal["allow", "ask", "deny"]
EFFECTS: tuple[EffectName, ...] = ("deny", "ask", "allow")
"""In order of precedence: deny wins over ask, ask over allow."""

BUILTIN_IDS = ("workspace.roots", "workspace.state", "workspace.immutable", "default-deny")
ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
TOOL_GLOB_RE = re.compile(r"^[a-z0-9_*?]+$")
WILDCARDS = frozenset("*?[")

CONSTRAINT_KEYS = ("paths", "argv", "commands", "repos", "domains", "args")
FACET_OF = {"paths": "paths", "argv": "argv", "commands": "command", "repos": "repos", "domains": "domains"}
"""Rule key -> the facet (``Tool.facets``) it constrains; ``args`` looks at arguments instead."""


class PolicyError(ConfigError):
    """A policy that cannot load; names the file, the line and the rule."""

    def __init__(
        self, message: str, *, file: Path | None = None, line: int | None = None, rule_id: str | None = None
    ) -> None:
        self.rule_id = rule_id
        super().__init__(message, file=file, line=line)


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    rule_id: str | None
    line: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "rule_id": self.rule_id, "line": self.line, "message": self.message}


class Example(BaseModel):
    """A call the rule's author states the decision of; checked against the whole policy at load."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    expect: EffectName


class Rule(BaseModel):
    """One ``[[rules]]`` table. Keys not listed here fail the load (a typo must not widen a rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=ID_RE.pattern, min_length=1, max_length=128)
    description: str = ""
    tools: list[str] = Field(min_length=1)
    effect: EffectName
    paths: list[str] | None = Field(default=None, min_length=1)
    argv: list[str] | None = Field(default=None, min_length=1)
    commands: list[str] | None = Field(default=None, min_length=1)
    repos: list[str] | None = Field(default=None, min_length=1)
    domains: list[str] | None = Field(default=None, min_length=1)
    args: dict[str, str | list[str]] | None = Field(default=None, min_length=1)
    principals: list[str] | None = Field(default=None, min_length=1)
    """Who the rule is for: operator names (``alice@acme.example``, globs allowed) and groups
    (``group:sre``); the rule matches only a call whose operator or one of its groups is listed."""
    examples: list[Example] = Field(default_factory=list)

    def constraint_keys(self) -> list[str]:
        return [k for k in CONSTRAINT_KEYS if getattr(self, k) is not None]

    def arg_globs(self) -> dict[str, list[str]]:
        return {k: [v] if isinstance(v, str) else list(v) for k, v in (self.args or {}).items()}


# ---------------------------------------------------------------------------- locating lines

_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([^\]]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$", re.M)


def rule_blocks(text: str) -> list[tuple[int, int]]:
    """(first line, last line) of each ``[[rules]]`` table, sub-tables (``[[rules.examples]]``)
    included; empty when rules are written some other way (an inline array)."""
    blocks: list[list[int]] = []
    lines_total = text.count("\n") + 1
    for match in _HEADER.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        name = match.group(2).replace('"', "").replace("'", "").replace(" ", "")
        if match.group(1) == "[[" and name == "rules":
            if blocks:
                blocks[-1][1] = line - 1
            blocks.append([line, lines_total])
        elif not name.startswith("rules.") and blocks and blocks[-1][1] == lines_total:
            blocks[-1][1] = line - 1
    return [(a, b) for a, b in blocks]


def key_line(config: Config, index: int, key: str | None, rule_id: str | None) -> int | None:
    """Line of ``key`` inside rule number ``index``; else the rule's header or id line."""
    blocks = rule_blocks(config.text)
    if len(blocks) == len(config.rules) and index < len(blocks):
        first, last = blocks[index]
        if key is not None:
            lines = config.text.splitlines()
            pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
            for number in range(first, min(last, len(lines)) + 1):
                if pattern.match(lines[number - 1]):
                    return number
        return first
    return config.line_of(rule_id) if rule_id else None


# ---------------------------------------------------------------------------- parsing


def _fail(config: Config, index: int, rule_id: str | None, key: str | None, message: str) -> PolicyError:
    who = f"rule {rule_id}" if rule_id else f"rule #{index + 1} (no id)"
    return PolicyError(
        f"{who}: {message}",
        file=config.path,
        line=key_line(config, index, key, rule_id),
        rule_id=rule_id,
    )


def parse_rules(config: Config) -> list[Rule]:
    """The config's rules as checked ``Rule`` objects, or a ``PolicyError`` for the first bad one."""
    raw_rules = config.data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise PolicyError("rules must be an array of tables ([[rules]])", file=config.path)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            raise _fail(config, index, None, None, "each rule must be a table")
        rid = raw.get("id") if isinstance(raw.get("id"), str) else None
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            raise _from_validation(config, index, rid, exc) from None
        if rule.id in BUILTIN_IDS:
            raise _fail(config, index, rule.id, "id", f"the id {rule.id} is reserved for a built-in rule")
        if rule.id in seen:
            raise _fail(
                config, index, rule.id, "id", f"duplicate rule id (rule #{seen[rule.id] + 1} uses it too)"
            )
        seen[rule.id] = index
        problem = check_globs(rule)
        if problem is not None:
            key, message = problem
            raise _fail(config, index, rule.id, key, message)
        rules.append(rule)
    return rules


def _from_validation(config: Config, index: int, rid: str | None, exc: ValidationError) -> PolicyError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = loc[0] if loc else None
    if err["type"] == "extra_forbidden" and len(loc) == 1:
        known = ", ".join(Rule.model_fields)
        message = f"unknown key '{key}'; a rule may have: {known}"
    elif err["type"] == "extra_forbidden":
        message = f"unknown key '{'.'.join(loc)}'; an example has: tool, args, expect"
    elif err["type"] == "missing":
        message = f"missing required key '{'.'.join(loc)}'"
    elif err["type"] == "literal_error" and loc and loc[-1] in ("effect", "expect"):
        message = f"{'.'.join(loc)} must be allow, ask or deny, not {err.get('input')!r}"
    elif err["type"] == "string_pattern_mismatch" and key == "id":
        message = f"id {err.get('input')!r} may only use letters, digits, '_', '.' and '-'"
    else:
        message = f"{'.'.join(loc) or 'rule'}: {err['msg']} (got {err.get('input')!r})"
    return _fail(config, index, rid, key, message)


# ---------------------------------------------------------------------------- glob checks


def check_globs(rule: Rule) -> tuple[str, str] | None:
    """(key, message) for the first glob this engine would not read as its author meant."""
    for glob in rule.tools:
        if not TOOL_GLOB_RE.match(glob):
            return "tools", f"tools glob {glob!r} may only use a-z, 0-9, '_', '*' and '?' (tool names)"
    for glob in rule.paths or []:
        problem = path_glob_problem(glob)
        if problem:
            return "paths", f"paths glob {glob!r}: {problem}"
    for pattern in rule.argv or []:
        try:
            tokens = shlex.split(pattern)
        except ValueError as exc:
            return "argv", f"argv pattern {pattern!r} does not split into tokens: {exc}"
        if not tokens:
            return "argv", f"argv pattern {pattern!r} has no tokens"
    for key in ("commands", "repos", "domains"):
        for glob in getattr(rule, key) or []:
            if glob == "" or "\x00" in glob:
                return key, f"{key} glob {glob!r} must be a non-empty string without NUL"
    for glob in rule.principals or []:
        if glob.strip() == "" or "\x00" in glob or glob in ("group:", "*"):
            return "principals", f"principals entry {glob!r} must name an operator or group:<name>"
    for name, globs in rule.arg_globs().items():
        if not name.isidentifier():
            return "args", f"args key {name!r} is not an argument name"
        if not globs:
            return "args", f"args.{name} lists no glob"
    for number, example in enumerate(rule.examples):
        if not TOOL_GLOB_RE.match(example.tool) or set(example.tool) & WILDCARDS:
            return "examples", f"example {number}: tool {example.tool!r} must be one tool name"
    return None


def path_glob_problem(glob: str) -> str | None:
    if glob.strip() == "" or "\x00" in glob:
        return "must be a non-empty string without NUL"
    if glob.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", glob):
        return "path globs are relative to a workspace root; write 'etc/**', not '/etc/**'"
    if ".." in glob.split("/"):
        return "'..' cannot match: paths are resolved inside the workspace roots first"
    depth = 0
    for c in glob:
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
    if depth:
        return "unclosed '[' (write '[[]' for a literal bracket)"
    try:
        re.compile(path_glob_regex(glob))
        compile_path_glob(glob)  # what decisions run (RE2): a glob it rejects is refused at load
    except (re.error, GlobError) as exc:
        return f"not a valid glob ({exc})"
    return None


def is_literal(token: str) -> bool:
    return not (set(token) & WILDCARDS)
