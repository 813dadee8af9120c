"""Example arguments for a JSON Schema: the value a skill's ``tollhouse call`` line shows.

A skill teaches a model by example, so an example the gate rejects teaches the wrong thing. Each
subschema yields candidate values (enum/const/default first, then values built from the bounds, the
length limits, the ``format`` and a simple ``pattern``) and the first candidate the subschema accepts
is used. When no candidate is accepted (a pattern with lookarounds or backreferences, contradictory
bounds) the best guess is kept and ``example_problem`` says what is wrong, so the skill can tell the
model to edit the example instead of shipping a silently broken one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import jsonschema

from tollhouse.adapters import _jsonschema as js

MAX_DEPTH = 32
FORMAT_SAMPLES = {
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com",
    "iri": "https://example.com",
    "uri-reference": "https://example.com",
    "url": "https://example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "duration": "P1D",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "regex": ".*",
    "json-pointer": "/a",
}


def example_args(schema: dict[str, Any]) -> Any:
    """A small example value for ``schema``: required properties only, valid where we can make it so."""
    norm = js.normalise(schema)
    defs = norm.get("$defs", {})
    # A tool's own examples first: they can satisfy what the schema cannot say (a model validator's
    # "argv or command", a query that must name a repository).
    for example in norm.get("examples", []) if isinstance(norm.get("examples"), list) else []:
        if _accepts(norm, defs, example):
            return example
    return _pick(norm, defs, 0)


def example_problem(schema: dict[str, Any]) -> str | None:
    """None when ``example_args(schema)`` satisfies ``schema``; else why it does not."""
    norm = js.normalise(schema)
    error = jsonschema.exceptions.best_match(_validator(_freeze(norm)).iter_errors(example_args(schema)))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"


def _freeze(node: Any) -> str:
    return json.dumps(node, sort_keys=True)


@lru_cache(maxsize=2048)
def _validator(frozen: str) -> jsonschema.protocols.Validator:
    cls = jsonschema.Draft202012Validator
    return cls(json.loads(frozen), format_checker=cls.FORMAT_CHECKER)


def _accepts(node: dict[str, Any], defs: dict[str, Any], value: Any) -> bool:
    body = {**node, "$defs": defs} if defs else node
    return bool(_validator(_freeze(body)).is_valid(value))


def _valid(node: Any, defs: dict[str, Any], depth: int) -> Iterator[Any]:
    """The candidates ``node`` accepts, deduplicated, best first."""
    if not isinstance(node, dict):
        yield None
        return
    seen: list[str] = []
    for value in _candidates(node, defs, depth):
        key = _freeze(value)
        if key not in seen and _accepts(node, defs, value):
            seen.append(key)
            yield value


def _pick(node: Any, defs: dict[str, Any], depth: int) -> Any:
    first = next(_valid(node, defs, depth), _Missing)
    if first is not _Missing:
        return first
    return next(_candidates(node, defs, depth), None) if isinstance(node, dict) else None


class _Missing:
    pass


def _candidates(node: dict[str, Any], defs: dict[str, Any], depth: int) -> Iterator[Any]:
    node = js.resolve(node, defs)
    if isinstance(node.get("examples"), list):
        yield from node["examples"][:3]
    if "default" in node:
        yield node["default"]
    if "const" in node:
        yield node["const"]
        return
    if isinstance(node.get("enum"), list) and node["enum"]:
        yield from node["enum"][:50]
        return
    if depth > MAX_DEPTH:
        return
    if isinstance(node.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            value = _pick(part, defs, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        yield merged
    branches = node.get("anyOf") or node.get("oneOf")
    if isinstance(branches, list) and branches:
        ordered = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
        for branch in ordered + [b for b in branches if b not in ordered]:
            yield _pick({**_without(node, "anyOf", "oneOf"), **branch}, defs, depth + 1)
        return
    types = node.get("type")
    if isinstance(types, list):
        for t in [t for t in types if t != "null"] + [t for t in types if t == "null"]:
            yield from _candidates({**node, "type": t}, defs, depth)
        return
    if types is None and ("properties" in node or "required" in node):
        types = "object"
    if types == "object":
        yield from _objects(node, defs, depth)
    elif types == "array":
        yield from _arrays(node, defs, depth)
    elif types in ("integer", "number"):
        yield from _numbers(node, types == "integer")
    elif types == "boolean":
        yield from (False, True)
    elif types == "string":
        yield from _strings(node)
    elif types == "null" or types is None:
        yield None


def _without(node: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in keys}


def _objects(node: dict[str, Any], defs: dict[str, Any], depth: int) -> Iterator[dict[str, Any]]:
    props = node.get("properties", {}) if isinstance(node.get("properties"), dict) else {}
    required = [k for k in node.get("required", []) if isinstance(k, str)]
    out = {k: _pick(props.get(k, {}), defs, depth + 1) for k in required}
    yield out
    # minProperties or dependentRequired may ask for more than the required keys
    yield {**out, **{k: _pick(v, defs, depth + 1) for k, v in props.items() if k not in out}}


def _arrays(node: dict[str, Any], defs: dict[str, Any], depth: int) -> Iterator[list[Any]]:
    if isinstance(node.get("prefixItems"), list):
        yield [_pick(item, defs, depth + 1) for item in node["prefixItems"]]
        return
    count = int(node.get("minItems", 0))
    if count == 0:
        yield []
        return
    items = node.get("items") if isinstance(node.get("items"), dict) else {}
    if node.get("uniqueItems"):
        distinct = []
        for value in _valid(items, defs, depth + 1):
            distinct.append(value)
            if len(distinct) == count:
                break
        yield distinct
    else:
        yield [_pick(items, defs, depth + 1)] * count


def _numbers(node: dict[str, Any], integer: bool) -> Iterator[int | float]:
    lo, xlo = node.get("minimum"), node.get("exclusiveMinimum")
    hi, xhi = node.get("maximum"), node.get("exclusiveMaximum")
    step = Decimal(str(node["multipleOf"])) if isinstance(node.get("multipleOf"), int | float) else None
    low = lo if lo is not None else xlo
    high = hi if hi is not None else xhi
    starts: list[float] = []
    if low is not None:
        starts += [low, low + float(step or 1), low + 0.5]
    starts += [1, 0]
    if high is not None:
        starts += [high, high - float(step or 1), high - 0.5]
    if low is not None and high is not None:
        starts.append((low + high) / 2)
    for start in starts:
        for value in _snap(start, step, integer):
            yield int(value) if value == int(value) else value


def _snap(start: float, step: Decimal | None, integer: bool) -> Iterator[float]:
    if step is None:
        values = [math.ceil(start), math.floor(start)] if integer else [start]
    else:
        k = Decimal(str(start)) / step
        up, down = int(k.to_integral_value("ROUND_CEILING")), int(k.to_integral_value("ROUND_FLOOR"))
        values = [float(step * up), float(step * down), float(step * (up + 1))]
    yield from values


def _strings(node: dict[str, Any]) -> Iterator[str]:
    lo = int(node.get("minLength", 1) or 0)
    hi = node.get("maxLength")
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in FORMAT_SAMPLES:
        yield FORMAT_SAMPLES[fmt]
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        try:
            parsed = _Regex(pattern).parse()
        except _Unsupported:
            parsed = None
        if parsed is not None:
            for extra in range(0, max(lo, 1) + 2):
                for variant in range(6):
                    yield _generate(parsed, extra, variant)
    for ch in "xyzabcdefghijk":
        yield ch * max(1, lo) if hi is None or max(1, lo) <= hi else ch * int(hi)


# A generator for simple regular expressions: literals, escapes, classes, groups, alternation and
# quantifiers. Lookarounds, backreferences and word boundaries are out of scope (_Unsupported).

DIGITS = "0123456789"
WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + DIGITS + "_"
FILLER = "xyzXYZ019_-. "
CLASS_ESCAPES = {"d": DIGITS, "w": WORD, "s": " ", "D": "x", "W": "-", "S": "x"}
CHAR_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}


class _Unsupported(ValueError):
    pass


class _Regex:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.i = 0

    def parse(self) -> list[Any]:
        alts = self._alternation()
        if self.i != len(self.src):
            raise _Unsupported(f"unexpected {self.src[self.i]!r}")
        return [("group", alts)]

    def _peek(self) -> str:
        return self.src[self.i] if self.i < len(self.src) else ""

    def _alternation(self) -> list[list[Any]]:
        alts = [self._sequence()]
        while self._peek() == "|":
            self.i += 1
            alts.append(self._sequence())
        return alts

    def _sequence(self) -> list[Any]:
        seq: list[Any] = []
        while self._peek() not in ("", "|", ")"):
            atom = self._atom()
            if atom is not None:
                seq.append(self._quantified(atom))
        return seq

    def _atom(self) -> Any:
        ch = self.src[self.i]
        self.i += 1
        if ch in "^$":
            return None  # anchors add no characters
        if ch == ".":
            return ("set", "x")
        if ch == "(":
            if self.src.startswith("?:", self.i):
                self.i += 2
            elif self.src.startswith("?P<", self.i) or (
                self.src.startswith("?<", self.i) and self.src[self.i + 2 : self.i + 3] not in ("=", "!")
            ):
                self.i = self.src.index(">", self.i) + 1
            elif self._peek() == "?":
                raise _Unsupported("lookaround or inline flag")
            alts = self._alternation()
            if self._peek() != ")":
                raise _Unsupported("unclosed group")
            self.i += 1
            return ("group", alts)
        if ch == "[":
            return self._class()
        if ch == "\\":
            return ("set", self._escape(in_class=False))
        if ch in "*+?{":
            raise _Unsupported("quantifier without an atom")
        return ("set", ch)

    def _escape(self, in_class: bool) -> str:
        ch = self._peek()
        self.i += 1
        if ch in CLASS_ESCAPES:
            return CLASS_ESCAPES[ch]
        if ch in CHAR_ESCAPES:
            return CHAR_ESCAPES[ch]
        if ch in ("u", "x"):
            size = 4 if ch == "u" else 2
            code = self.src[self.i : self.i + size]
            self.i += size
            return chr(int(code, 16))
        if ch.isalnum() and not (in_class and ch == "b"):
            raise _Unsupported(f"escape \\{ch}")
        return "\b" if ch == "b" else ch

    def _class(self) -> Any:
        negate = self._peek() == "^"
        self.i += negate
        chars: list[str] = []
        first = True
        while self._peek() and (self._peek() != "]" or first):
            first = False
            ch = self.src[self.i]
            self.i += 1
            part = self._escape(in_class=True) if ch == "\\" else ch
            if len(part) == 1 and self._peek() == "-" and self.src[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                end = self.src[self.i]
                self.i += 1
                end = self._escape(in_class=True) if end == "\\" else end
                chars += [chr(c) for c in range(ord(part), min(ord(end), ord(part) + 200) + 1)]
            else:
                chars += list(part)
        if self._peek() != "]":
            raise _Unsupported("unclosed character class")
        self.i += 1
        if negate:
            return ("set", "".join(c for c in FILLER if c not in chars) or "\u00e9")
        return ("set", "".join(dict.fromkeys(chars)))

    def _quantified(self, atom: Any) -> Any:
        ch = self._peek()
        if ch in ("*", "+", "?"):
            self.i += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[ch]
        elif ch == "{" and re.match(r"\{\d+(,\d*)?\}", self.src[self.i :]):
            body = self.src[self.i + 1 : self.src.index("}", self.i)]
            self.i += len(body) + 2
            low_s, _, high_s = body.partition(",")
            low = int(low_s)
            high = low if "," not in body else (int(high_s) if high_s else None)
        else:
            return atom
        if self._peek() == "?":
            self.i += 1  # lazy: same language
        return ("repeat", atom, low, high)


def _generate(nodes: list[Any], extra: int, variant: int) -> str:
    out = []
    for node in nodes:
        kind = node[0]
        if kind == "set":
            out.append(node[1][variant % len(node[1])])
        elif kind == "group":
            out.append(_generate(node[1][variant % len(node[1])], extra, variant))
        else:
            _, atom, low, high = node
            count = low + extra if high is None else min(high, low + extra)
            out.append("".join(_generate([atom], extra, variant + n) for n in range(count)))
    return "".join(out)
