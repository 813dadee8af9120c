"""JSON Schema plumbing shared by the lowerings: walking, `$ref` resolution, recursion detection.

Everything here works on plain dicts and never mutates its input: the catalogue's schema is the master
copy and must stay byte-for-byte what the gate validates against.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jsonschema

Schema = dict[str, Any]

# Keywords whose value is one subschema / a list of subschemas / a map of name -> subschema.
ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
ONE += ("unevaluatedProperties", "unevaluatedItems")
MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
MAP = ("properties", "patternProperties", "$defs", "dependentSchemas")

REF_PREFIX = "#/$defs/"


def normalise(schema: Schema) -> Schema:
    """A deep copy with draft-07 ``definitions`` renamed to ``$defs`` (refs too) and a root ``$ref``
    (pydantic's shape for a self-recursive model) replaced by the definition it points at."""
    out = copy.deepcopy(schema)
    if "definitions" in out:
        out.setdefault("$defs", {}).update(out.pop("definitions"))

        def fix(node: Any) -> Any:
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/definitions/"):
                    node["$ref"] = REF_PREFIX + ref[len("#/definitions/") :]
                for value in node.values():
                    fix(value)
            elif isinstance(node, list):
                for value in node:
                    fix(value)
            return node

        fix(out)
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        target = copy.deepcopy(out["$defs"][def_name(ref)])
        siblings = {k: v for k, v in out.items() if k not in ("$ref", "$defs")}
        out = {**target, **siblings, "$defs": out["$defs"]}
    return out


def def_name(ref: str) -> str:
    # JSON-pointer escapes: ~1 is "/", ~0 is "~".
    return ref[len(REF_PREFIX) :].replace("~1", "/").replace("~0", "~")


def refs_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(def_name(ref))
        for key, value in node.items():
            if key != "$defs":
                found |= refs_in(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs_in(value)
    return found


def recursive_defs(defs: dict[str, Schema]) -> set[str]:
    """Names of definitions that can reach themselves through ``$ref``: those cannot be inlined."""
    edges = {name: refs_in(body) & set(defs) for name, body in defs.items()}
    out: set[str] = set()
    for start in defs:
        seen: set[str] = set()
        todo = list(edges[start])
        while todo:
            name = todo.pop()
            if name == start:
                out.add(start)
                break
            if name not in seen:
                seen.add(name)
                todo.extend(edges.get(name, ()))
    return out


def inline_refs(schema: Schema, keep: set[str]) -> Schema:
    """Replace every ``$ref`` to a definition not in ``keep`` by a copy of that definition (sibling
    keywords such as ``description`` win over the definition's own). ``$defs`` keeps only ``keep``."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX) and def_name(ref) not in keep:
            name = def_name(ref)
            if name not in defs:
                raise ValueError(f"$ref {ref} points at no definition")
            siblings = {k: walk(v) for k, v in node.items() if k != "$ref"}
            return {**walk(defs[name]), **siblings}
        return {k: (walk(v) if k != "$defs" else v) for k, v in node.items()}

    out = walk({k: v for k, v in schema.items() if k != "$defs"})
    kept = {name: walk(defs[name]) for name in keep if name in defs}
    if kept:
        out["$defs"] = kept
    return out


def transform(node: Any, fn: Callable[[Schema, str], Schema], path: str = "#") -> Any:
    """Post-order map over every subschema: children first, then ``fn(node, path)``."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key in ONE and isinstance(value, dict):
            out[key] = transform(value, fn, f"{path}/{key}")
        elif key in MANY and isinstance(value, list):
            out[key] = [transform(v, fn, f"{path}/{key}/{i}") for i, v in enumerate(value)]
        elif key in MAP and isinstance(value, dict):
            out[key] = {k: transform(v, fn, f"{path}/{key}/{k}") for k, v in value.items()}
        else:
            out[key] = value
    return fn(out, path)


def merge_single_allof(node: Schema) -> Schema:
    """``{"allOf": [X], ...siblings}`` -> X with the siblings on top (pydantic's old wrapper)."""
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return {**all_of[0], **rest}
    return node


def is_object(node: Schema) -> bool:
    t = node.get("type")
    return t == "object" or (isinstance(t, list) and "object" in t) or "properties" in node


def has_null(node: Schema) -> bool:
    """Structural check: does this (lowered) node already admit null?"""
    t = node.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    if "enum" in node and None in node["enum"]:
        return True
    if "const" in node and node["const"] is None:
        return True
    return any(isinstance(b, dict) and has_null(b) for b in node.get("anyOf", []) + node.get("oneOf", []))


def _freeze(obj: Any) -> Any:
    import json

    return json.dumps(obj, sort_keys=True)


@lru_cache(maxsize=4096)
def _validator(frozen: str) -> jsonschema.protocols.Validator:
    import json

    schema = json.loads(frozen)
    return jsonschema.Draft202012Validator(schema)


def validator_for(node: Schema, defs: dict[str, Schema] | None) -> jsonschema.protocols.Validator:
    """A validator for a subschema of a document whose definitions are ``defs``."""
    body = dict(node)
    if defs:
        body["$defs"] = defs
    return _validator(_freeze(body))


def accepts(node: Schema, defs: dict[str, Schema] | None, value: Any) -> bool:
    return bool(validator_for(node, defs).is_valid(value))


def resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    """Follow a ``$ref`` (siblings win) so callers see the keywords that apply here."""
    for _ in range(64):
        node = merge_single_allof(node)
        ref = node.get("$ref")
        if not (isinstance(ref, str) and ref.startswith(REF_PREFIX)):
            break
        node = {**defs.get(def_name(ref), {}), **{k: v for k, v in node.items() if k != "$ref"}}
    return node


JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def type_matches(node: Schema, value: Any) -> bool:
    t = node.get("type")
    types = [t] if isinstance(t, str) else (t or [])
    if not types and "properties" in node:
        types = ["object"]
    return any(JSON_TYPES.get(name, lambda _v: False)(value) for name in types)
