"""Lowering the catalogue's JSON Schema (2020-12) into what each provider accepts, and back.

The master schema (``ToolSpec.input_schema``, pydantic's output) is never changed and is what the gate
validates against. Each target gets a lowered copy:

* ``openai-strict``: every object closed, every property required, optional -> union with null,
  keywords strict mode does not support moved into the description, size limits checked. A schema that
  cannot be strict (free-form maps, tuples, untyped values, ...) falls back to ``openai`` and the
  reasons are kept in ``LoweredSchema.notes``.
* ``openai``: non-strict; refs inlined (recursive ones kept in ``$defs``), root always an object.
* ``anthropic``: like ``openai``; a root combinator is wrapped (the API rejects ``anyOf`` at the top).
* ``gemini``: for ``parameters_json_schema``; ``oneOf`` -> ``anyOf``, ``const`` -> ``enum`` and
  property names Gemini rejects renamed reversibly.

The reverse mapping (``LoweredSchema.unlower``) is derived from the master schema itself, so it needs no
state: renamed properties get their names back, nulls that strict mode forced on optional fields
become absent, a wrapped root is unwrapped, and defaults are filled in.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tollhouse.adapters import _jsonschema as js
from tollhouse.adapters._strict_checks import check_limits, pure_refs, ref_siblings, separate_first_keys

Target = Literal["openai-strict", "openai", "anthropic", "gemini"]
TARGETS: tuple[Target, ...] = ("openai-strict", "openai", "anthropic", "gemini")

WRAP_KEY = "arguments"
"""A root that is not a plain object is sent as ``{"arguments": <root>}`` and unwrapped on return."""

GEMINI_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

STRICT_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
STRICT_UNSUPPORTED = (
    "not if then else dependentRequired dependentSchemas unevaluatedProperties propertyNames "
    "minProperties maxProperties unevaluatedItems contains minContains maxContains uniqueItems "
    "minLength maxLength contentEncoding contentMediaType"
).split()
DROP_ALWAYS = (
    "$schema",
    "$id",
    "$comment",
    "title",
    "examples",
    "discriminator",
    "readOnly",
    "writeOnly",
    "deprecated",
)


@dataclass
class LoweredSchema:
    """One target's copy of a master schema and the way back."""

    target: Target
    schema: dict[str, Any]
    master: dict[str, Any]
    strict: bool = False
    wrapped: bool = False
    notes: list[str] = field(default_factory=list)
    """Why a strict request fell back, and what was moved into descriptions."""

    @property
    def empty(self) -> bool:
        """True for a tool without arguments (Gemini then omits ``parameters``)."""
        return not self.schema.get("properties") and not self.wrapped and "$defs" not in self.schema

    def unlower(self, arguments: Any) -> Any:
        """Map arguments the model sent for the lowered schema back onto the master schema."""
        if self.wrapped:
            if not isinstance(arguments, dict) or set(arguments) != {WRAP_KEY}:
                return arguments
            arguments = arguments[WRAP_KEY]
        return _Walker(self, forward=False).walk(arguments, self._root())

    def lower_args(self, arguments: Any) -> Any:
        """The inverse: master-shaped arguments as the model would send them for this target."""
        out = _Walker(self, forward=True).walk(arguments, self._root())
        return {WRAP_KEY: out} if self.wrapped else out

    def _root(self) -> dict[str, Any]:
        return {k: v for k, v in self._norm.items() if k != "$defs"}

    @property
    def _norm(self) -> dict[str, Any]:
        cached = self.__dict__.get("_norm_cache")
        if cached is None:
            cached = self.__dict__["_norm_cache"] = js.normalise(self.master)
        return cached


def gemini_names(keys: list[str]) -> dict[str, str]:
    """Original property name -> name Gemini accepts. Deterministic from the key list, so the gate can
    rebuild it from the master schema; valid names are kept and renamed ones never collide."""
    taken = {k for k in keys if GEMINI_NAME.match(k)}
    out = {k: k for k in taken}
    for key in keys:
        if key in out:
            continue
        base = re.sub(r"[^A-Za-z0-9_]", "_", key)
        if not base or not (base[0].isalpha() or base[0] == "_") or not base[0].isascii():
            base = "_" + base
        name = base[:64]
        n = 0
        while name in taken:
            digest = hashlib.sha1(f"{key}:{n}".encode(), usedforsecurity=False).hexdigest()[:8]
            name = f"{base[:55]}_{digest}"
            n += 1
        taken.add(name)
        out[key] = name
    return out


def lower(master: dict[str, Any], target: Target) -> LoweredSchema:
    """Lower ``master`` for ``target``. ``openai-strict`` may come back with ``strict=False``."""
    norm = js.normalise(master)
    keep = js.recursive_defs(norm.get("$defs", {}))
    base = js.inline_refs(norm, keep)
    base = js.transform(base, lambda n, _p: js.merge_single_allof(n))
    wrapped = not _plain_object_root(base)
    if wrapped:
        defs = base.pop("$defs", None)
        base = {"type": "object", "properties": {WRAP_KEY: base}, "required": [WRAP_KEY]}
        if defs:
            base["$defs"] = defs
    if target == "openai-strict":
        notes: list[str] = []
        strict_schema = pure_refs(js.transform(base, lambda n, p: _strict_node(n, p, notes)))
        problems = [n for n in notes if n.startswith("cannot")] + check_limits(strict_schema)
        problems += ref_siblings(strict_schema)  # verified, not assumed
        problems += separate_first_keys(strict_schema, notes)
        if not problems:
            moved = [n for n in notes if not n.startswith("cannot")]
            return LoweredSchema(target, strict_schema, master, True, wrapped, moved)
        fallback = lower(master, "openai")
        fallback.notes = ["not strict: " + "; ".join(problems), *fallback.notes]
        return fallback
    fn = _gemini_node if target == "gemini" else _plain_node
    lowered = js.transform(base, fn)
    lowered.setdefault("type", "object")
    lowered.setdefault("properties", {})
    return LoweredSchema(target, lowered, master, False, wrapped)


def _plain_object_root(node: dict[str, Any]) -> bool:
    if any(k in node for k in ("anyOf", "oneOf", "allOf", "not", "if", "$ref")):
        return False
    return node.get("type", "object") == "object"


def _drop_meta(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in DROP_ALWAYS}


def _plain_node(node: dict[str, Any], path: str) -> dict[str, Any]:
    node = _drop_meta(node)
    if node.get("type") == "object" and "properties" not in node and path == "#":
        node["properties"] = {}
    return node


def _gemini_node(node: dict[str, Any], path: str) -> dict[str, Any]:
    node = _plain_node(node, path)
    if "oneOf" in node:
        # Gemini's acceptance of oneOf is unconfirmed; anyOf is documented. The gate checks exactly-one.
        node["anyOf"] = node.pop("oneOf")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("properties"), dict):
        names = gemini_names(list(node["properties"]))
        node["properties"] = {names[k]: v for k, v in node["properties"].items()}
        if isinstance(node.get("required"), list):
            node["required"] = [names.get(k, k) for k in node["required"]]
    return node


def _describe(node: dict[str, Any], moved: dict[str, Any]) -> None:
    parts = []
    for key, value in moved.items():
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        parts.append(f"default {text}" if key == "default" else f"{key} {text}")
    extra = "(" + "; ".join(parts) + ")"
    node["description"] = f"{node['description']} {extra}" if node.get("description") else extra


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if js.has_null(node):
        return node
    t = node.get("type")
    if isinstance(t, str) and not any(k in node for k in ("enum", "const", "anyOf", "$ref")):
        return {**node, "type": [t, "null"]}
    if isinstance(node.get("anyOf"), list) and "$ref" not in node:
        return {**node, "anyOf": [*node["anyOf"], {"type": "null"}]}
    outer: dict[str, Any] = {
        "anyOf": [{k: v for k, v in node.items() if k != "description"}, {"type": "null"}]
    }
    if "description" in node:
        outer["description"] = node["description"]
    return outer


def _strict_node(node: dict[str, Any], path: str, notes: list[str]) -> dict[str, Any]:
    node = _drop_meta(node)
    moved: dict[str, Any] = {}
    if "default" in node:
        value = node.pop("default")
        if value is not None:
            moved["default"] = value
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if isinstance(node.get("allOf"), list):
        notes.append(f"cannot: allOf with {len(node['allOf'])} schemas at {path}")
    for key in STRICT_UNSUPPORTED:
        if key in node:
            moved[key] = node.pop(key)
    if "format" in node and node["format"] not in STRICT_FORMATS:
        moved["format"] = node.pop("format")
    if "$defs" in node and path != "#":
        notes.append(f"cannot: nested $defs at {path}")
    if js.is_object(node):
        ap = node.get("additionalProperties")
        if ap not in (None, False):
            notes.append(f"cannot: free-form map (additionalProperties) at {path}")
        if "patternProperties" in node:
            notes.append(f"cannot: patternProperties at {path}")
        props = node.get("properties")
        if props is None:
            if path == "#" or ap not in (None, False):
                props = {}
            else:
                notes.append(f"cannot: object without declared properties at {path}")
                props = {}
        required = set(node.get("required", []))
        node["properties"] = {k: (v if k in required else _nullable(v)) for k, v in props.items()}
        node["required"] = list(props)
        node["additionalProperties"] = False
        node["type"] = node.get("type", "object")
    elif node.get("type") == "array" or (isinstance(node.get("type"), list) and "array" in node["type"]):
        if "prefixItems" in node:
            notes.append(f"cannot: tuple (prefixItems) at {path}")
        elif not isinstance(node.get("items"), dict):
            notes.append(f"cannot: array without an items schema at {path}")
    elif not any(k in node for k in ("type", "anyOf", "$ref", "enum", "const")) and not path.endswith(
        "$defs"
    ):
        notes.append(f"cannot: value of any type at {path}")
    if moved:
        _describe(node, moved)
        notes.append(f"moved to description at {path}: {', '.join(moved)}")
    return node


class _Walker:
    """Walks arguments alongside the master schema, mapping them between master and target shapes."""

    def __init__(self, lowered: LoweredSchema, forward: bool) -> None:
        self.defs: dict[str, Any] = lowered._norm.get("$defs", {})
        self.strict = lowered.strict
        self.rename = lowered.target == "gemini"
        self.forward = forward

    def walk(self, value: Any, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return value
        node = js.resolve(schema, self.defs)
        for sub in node.get("allOf", []):
            value = self.walk(value, sub)
        branches = node.get("anyOf") or node.get("oneOf")
        if isinstance(branches, list) and branches:
            value = self._branch(value, branches)
        if isinstance(value, dict) and js.is_object(node):
            return self._object(value, node)
        if isinstance(value, list):
            items, prefix = node.get("items"), node.get("prefixItems") or []
            return [self.walk(v, prefix[i] if i < len(prefix) else items) for i, v in enumerate(value)]
        return value

    def _branch(self, value: Any, branches: list[Any]) -> Any:
        for branch in branches:
            if not isinstance(branch, dict):
                continue
            if self.forward:
                if js.accepts(branch, self.defs, value):
                    return self.walk(value, branch)
            else:
                candidate = self.walk(value, branch)
                if js.accepts(branch, self.defs, candidate):
                    return candidate
        for branch in branches:
            if isinstance(branch, dict) and js.type_matches(js.resolve(branch, self.defs), value):
                return self.walk(value, branch)
        return value

    def _object(self, value: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        props: dict[str, Any] = node.get("properties", {}) if isinstance(node.get("properties"), dict) else {}
        names = gemini_names(list(props)) if self.rename else {}
        back = {new: old for old, new in names.items()}
        required = set(node.get("required", []))
        extra = node.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if self.forward else back.get(key, key)
            if name in props:
                if (
                    not self.forward
                    and self.strict
                    and item is None
                    and name not in required
                    and not js.accepts(props[name], self.defs, None)
                ):
                    continue  # a null strict mode forced on an optional field means "absent"
                mapped = self.walk(item, props[name])
            else:
                mapped = self.walk(item, extra) if isinstance(extra, dict) else item
            out[names.get(name, name) if self.forward else name] = mapped
        for name, prop in props.items():
            if self.forward:
                if self.strict and name not in value and name not in required:
                    out[names.get(name, name)] = None
                continue
            if name not in out:
                resolved = js.resolve(prop, self.defs) if isinstance(prop, dict) else {}
                if "default" in resolved and js.accepts(prop, self.defs, resolved["default"]):
                    out[name] = copy.deepcopy(resolved["default"])
        return out
