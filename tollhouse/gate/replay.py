"""Replay: decide recorded calls again under a candidate policy, without running anything.

A recorded call is the first receipt of a call that carries a decision (the intent of a tool that
can change something, else the single outcome), read straight from the receipt database. Its
arguments are parsed and validated exactly as the gate does (``gate/arguments.py``), the tool's
facets built, and the candidate policy's ``decide`` asked. Nothing runs and nothing is written.

Fidelity: receipts hold *redacted* arguments, and a value over ``receipts.max_value_bytes`` is kept
only as its digest and a head. A call whose recorded arguments hold either (or were not recorded,
name a tool no longer registered, no longer validate, or need a state lookup that fails) cannot be
reconstructed: it is reported ``unknown``, never counted as unchanged. Client roots are not
receipted: paths are judged against the workspace roots of the configuration.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from tollhouse.gate.arguments import validate_arguments
from tollhouse.gate.policy import Policy
from tollhouse.globs import compile_name_glob
from tollhouse.receipts.read import connect_readonly
from tollhouse.tools.base import Registry

Change = Literal["same", "rules", "loosened", "tightened", "unknown"]
CHANGES: tuple[Change, ...] = ("same", "rules", "loosened", "tightened", "unknown")
RANK = {"deny": 0, "ask": 1, "allow": 2}
"""How far a decision lets a call go: deny < ask (a person decides) < allow."""

ANY_RULES = ("*",)
_dumps = json.dumps

REDACTED = re.compile(r"\[REDACTED:[a-z0-9-]+\]")
COMPACT_KEYS = frozenset({"sha256", "bytes", "head"})

# Columns are constants here, never input.
_SELECT = (
    "SELECT seq, call_id, time, tool, arguments, decision, rules, channel, session, details "
    "FROM receipts WHERE kind IN ('intent', 'outcome') AND decision IS NOT NULL"
)


@dataclass(slots=True)  # not frozen: a frozen init costs a third of reading a history
class Recorded:
    """One decided call as its receipt recorded it."""

    seq: int
    call_id: str
    time: str
    tool: str
    arguments: str | None
    """The receipt's canonical (redacted, maybe compacted) JSON text of the arguments."""
    effect: str
    rules: tuple[str, ...]
    channel: str | None = None
    session: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "call_id": self.call_id,
            "time": self.time,
            "tool": self.tool,
            "arguments": None if self.arguments is None else json.loads(self.arguments),
            "effect": self.effect,
            "rules": list(self.rules),
            "channel": self.channel,
            "session": self.session,
        }


@dataclass(slots=True)
class Replayed:
    recorded: Recorded
    change: Change
    effect: str | None
    """The candidate policy's decision; None when the call could not be reconstructed."""
    rules: tuple[str, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        r = self.recorded
        return {
            "seq": r.seq,
            "call_id": r.call_id,
            "time": r.time,
            "tool": r.tool,
            "change": self.change,
            "before": {"effect": r.effect, "rules": list(r.rules)},
            "after": None if self.effect is None else {"effect": self.effect, "rules": list(self.rules)},
            "reason": self.reason,
        }


def parse_when(text: str, now: datetime | None = None) -> str:
    """``--since``/``--until`` as the receipts' own time format (sortable text): an ISO date or time
    (``2026-12-01``, ``2026-12-01T10:00``, with ``Z`` or an offset) or an age (``90m``, ``24h``,
    ``7d``, ``2w``). ValueError with the accepted forms otherwise."""
    text = text.strip()
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        seconds = n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        when = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"cannot read the time {text!r}: give an ISO date or time (2026-12-01, "
                "2026-12-01T10:00Z) or an age such as 90m, 24h, 7d, 2w"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_recorded(
    db_path: Path | str,
    *,
    since: str | None = None,
    until: str | None = None,
    tools: Iterable[str] = (),
) -> list[Recorded]:
    """Every decided call in the receipt database, oldest first (``since``/``until``: receipt time
    text as ``parse_when`` gives; ``tools``: name globs)."""
    sql, params = _SELECT, []
    if since is not None:
        sql += " AND time >= ?"
        params.append(since)
    if until is not None:
        sql += " AND time < ?"
        params.append(until)
    sql += " ORDER BY seq"
    globs = [compile_name_glob(g) for g in tools]
    conn = connect_readonly(db_path)
    try:
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.DatabaseError as exc:
        from tollhouse.receipts.errors import ReceiptStoreError

        raise ReceiptStoreError(f"cannot read {db_path}: {exc}") from exc
    finally:
        conn.close()
    seen: set[str] = set()
    out: list[Recorded] = []
    parsed: dict[str, tuple[str, ...]] = {}  # a history holds few distinct rule lists
    for seq, call_id, when, tool, arguments, effect, rules, channel, session, details in rows:
        key = call_id or f"#{seq}"
        if key in seen:  # the outcome after an intent: the intent recorded the decision
            continue
        seen.add(key)
        if globs and not any(g.match(tool or "") for g in globs):
            continue
        rules = rules or "[]"
        rule_ids = parsed.get(rules)
        if rule_ids is None:
            rule_ids = parsed[rules] = tuple(json.loads(rules))
        if "budget." in rules and all(r.startswith("budget.") for r in rule_ids):
            # A budget took the call away after policy decided: compare what policy said.
            policy = (json.loads(details) if details else {}).get("policy") or {}
            if policy.get("effect") in RANK:
                effect, rule_ids = policy["effect"], tuple(policy.get("rules") or ())
        out.append(Recorded(seq, key, when, tool or "", arguments, effect, rule_ids, channel, session))
    return out


def _compacted(value: Any) -> bool:
    if isinstance(value, dict):
        if COMPACT_KEYS == set(value) and isinstance(value.get("sha256"), str):
            return True
        return any(_compacted(v) for v in value.values())
    if isinstance(value, list):
        return any(_compacted(v) for v in value)
    return False


def unreconstructable(arguments: str | None) -> str | None:
    """Why recorded arguments are not the arguments the call carried (None: they are)."""
    if arguments is None:
        return "its arguments were not recorded"
    if "[REDACTED:" in arguments and REDACTED.search(arguments):
        return "a value in its arguments was redacted in the receipt"
    if '"sha256"' in arguments and _compacted(json.loads(arguments)):
        return "a long value in its arguments was kept only as its digest"
    return None


Lookup = Callable[[Any, Any], Awaitable[Any]]


@dataclass
class Replayer:
    """Decides recorded calls under ``policy``; identical (tool, arguments) pairs are decided once."""

    policy: Policy
    registry: Registry
    services: Any = None
    """What ``Tool.lookup_facets`` needs (``.state``); None: calls that need a lookup are unknown."""
    _memo: dict[tuple[str, str], tuple[Any, str | None, tuple[str, ...], str]] = field(default_factory=dict)
    _by_view: dict[tuple[str, str, str], tuple[str, tuple[str, ...], str]] = field(default_factory=dict)
    _arg_names: dict[str, list[str]] = field(default_factory=dict)

    async def replay(self, recorded: Iterable[Recorded]) -> list[Replayed]:
        return [await self.one(r) for r in recorded]

    async def one(self, rec: Recorded) -> Replayed:
        key = (rec.tool, rec.arguments or "")
        hit = self._memo.get(key) if rec.arguments is not None else None
        if hit is None:
            hit = await self._decide(rec)
            if hit[0] != "lookup":  # a looked-up decision depends on state: never shared
                self._memo[key] = hit
        unknown, effect, rules, reason = hit
        if unknown == "unknown" or effect is None:
            return Replayed(rec, "unknown", None, (), reason)
        return Replayed(rec, classify(rec.effect, rec.rules, effect, rules), effect, rules, reason)

    async def _decide(self, rec: Recorded) -> tuple[Any, str | None, tuple[str, ...], str]:
        why = unreconstructable(rec.arguments)
        if why is not None:
            return ("unknown", None, (), why)
        tool = self.registry.get(rec.tool)
        if tool is None:
            return ("unknown", None, (), f"tool {rec.tool!r} is not registered in this configuration")
        assert rec.arguments is not None
        try:
            args = validate_arguments(tool.input_model, None, rec.arguments)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "(arguments)"
            return ("unknown", None, (), f"recorded arguments no longer validate ({where}: {first['msg']})")
        tag = None
        if tool.lookup_facets is not None:
            if self.services is None:
                return ("unknown", None, (), f"{tool.name} needs a state lookup, and no state was given")
            try:
                args._looked_up = await tool.lookup_facets(args, self.services)  # type: ignore[attr-defined]
            except Exception as exc:
                return ("unknown", None, (), f"the state lookup for {tool.name} failed: {exc}")
            tag = "lookup"
        try:
            # Policy sees a call only through its facets and the arguments its rules name, so calls
            # that agree on those are decided once (the same files written with other contents).
            key = self._view_key(tool, args)
            decided = self._by_view.get(key) if key is not None else None
            if decided is None:
                decision = self.policy.decide(tool, args)
                decided = (decision.effect, decision.rules, decision.reason)
                if key is not None:
                    self._by_view[key] = decided
        except Exception as exc:  # the gate would deny: say so, but it is not a reconstruction
            return (tag, "deny", ("policy.error",), f"policy evaluation failed: {exc}")
        return (tag, *decided)

    def _view_key(self, tool: Any, args: Any) -> tuple[str, str, str] | None:
        names = self._arg_names.get(tool.name)
        if names is None:
            names = sorted({n for r in self.policy.index.covering(tool.name) for n in (r.rule.args or {})})
            self._arg_names[tool.name] = names
        try:  # a key only: deterministic text is enough (sorted keys), RFC 8785 is not needed
            facets = _dumps(tool.facets(args), sort_keys=True)
            values = _dumps([str(getattr(args, n, None)) for n in names]) if names else ""
        except (TypeError, ValueError):
            return None
        return (tool.name, facets, values)


def classify(before: str, before_rules: tuple[str, ...], after: str, after_rules: tuple[str, ...]) -> Change:
    if RANK.get(after, 0) > RANK.get(before, 0):
        return "loosened"
    if RANK.get(after, 0) < RANK.get(before, 0):
        return "tightened"
    if tuple(before_rules) == ANY_RULES:  # a golden case that names no rules checks the effect only
        return "same"
    return "same" if tuple(before_rules) == tuple(after_rules) else "rules"


def summary(results: list[Replayed]) -> dict[str, int]:
    counts = {c: 0 for c in CHANGES}
    for r in results:
        counts[r.change] += 1
    return {"calls": len(results), **counts}


FAIL_ON = ("changed", "loosened", "tightened", "never")


def failing(results: list[Replayed], fail_on: str, allow_unknown: bool = False) -> list[Replayed]:
    """The results that make a replay (or a policy test) fail under ``--fail-on``."""
    wanted = {"changed": {"loosened", "tightened"}, "loosened": {"loosened"}, "tightened": {"tightened"}}
    kinds = set(wanted.get(fail_on, set()))
    if not allow_unknown and fail_on != "never":
        kinds.add("unknown")
    return [r for r in results if r.change in kinds]
