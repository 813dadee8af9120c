"""OpenAI strict-mode checks run on a finished strict schema: the size limits and the rule that
``anyOf`` object branches must not share a first key. Sources: docs/adapters.md."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tollhouse.adapters import _jsonschema as js

# OpenAI Structured Outputs limits (see docs/adapters.md for sources).
MAX_PROPERTIES = 5000
MAX_DEPTH = 10
MAX_ENUM_VALUES = 1000
MAX_STRING_BUDGET = 120_000
BIG_ENUM = 250
BIG_ENUM_CHARS = 15_000


def separate_first_keys(schema: dict[str, Any], notes: list[str]) -> list[str]:
    """OpenAI strict rejects "Objects provided via 'anyOf' must not share identical first keys" (the
    decoder picks the branch from the first key). Property order means nothing to JSON Schema, so each
    inline object branch is reordered to start with a key no other branch starts with, preferring a key
    only that branch has; a ``$ref`` branch keeps its definition's order. Returns what cannot be fixed."""
    defs = schema.get("$defs", {})
    problems: list[str] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, list):
            for i, value in enumerate(node):
                visit(value, f"{path}/{i}")
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("anyOf"), list):
            problem = _reorder_branches(node["anyOf"], defs, f"{path}/anyOf")
            if problem is None:
                pass
            elif problem.startswith("cannot"):
                problems.append(problem)
            else:
                notes.append(problem)
        for key, value in node.items():
            if key not in ("enum", "const", "required", "default"):
                visit(value, f"{path}/{key}")

    visit(schema, "#")
    return problems


def _reorder_branches(branches: list[Any], defs: dict[str, Any], path: str) -> str | None:
    objects: list[tuple[dict[str, Any], bool]] = []  # (branch or its definition, can reorder)
    for branch in branches:
        if not isinstance(branch, dict):
            continue
        ref = branch.get("$ref")
        target = defs.get(js.def_name(ref), {}) if isinstance(ref, str) else branch
        if isinstance(target.get("properties"), dict) and target["properties"]:
            objects.append((target, not isinstance(ref, str)))
    if len(objects) < 2:
        return None
    taken: set[str] = set()
    for target, movable in objects:
        first = next(iter(target["properties"]))
        if not movable:
            if first in taken:
                return f"cannot: anyOf branches share the first key {first!r} at {path}"
            taken.add(first)
    moved = False
    for index, (target, movable) in enumerate(objects):
        if not movable:
            continue
        keys = list(target["properties"])
        others = {k for j, (o, _) in enumerate(objects) if j != index for k in o["properties"]}
        choice = next((k for k in keys if k not in taken and k not in others), None)
        choice = choice or next((k for k in keys if k not in taken), None)
        if choice is None:
            return f"cannot: anyOf branches share the first key {keys[0]!r} at {path}"
        taken.add(choice)
        if choice != keys[0]:
            moved = True
            target["properties"] = {choice: target["properties"][choice]} | target["properties"]
            if isinstance(target.get("required"), list) and choice in target["required"]:
                target["required"] = [choice] + [k for k in target["required"] if k != choice]
    return f"reordered properties at {path} so no two branches share a first key" if moved else None


def pure_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Strict mode cannot use a ``$ref`` that has sibling keywords (a recursive model used from a field
    with a description: ``{"$ref": "#/$defs/Node", "description": ...}``), and unravelling it in place
    never ends for a self-reference. Each such node becomes a bare ``$ref`` to a derived definition: the
    referenced one (already strict) with the siblings on top, one per distinct set of siblings."""
    derived: dict[str, tuple[str, dict[str, Any]]] = {}

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(v) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(js.REF_PREFIX) and len(node) > 1:
            base = js.def_name(ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            text = json.dumps([base, siblings], sort_keys=True)
            name = f"{base}_{hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]}"
            derived[name] = (base, siblings)
            return {"$ref": js.REF_PREFIX + name.replace("~", "~0").replace("/", "~1")}
        return {k: visit(v) for k, v in node.items()}

    out = visit(schema)
    if derived:
        kept = out["$defs"]
        for name, (base, siblings) in derived.items():
            kept[name] = {**kept.get(base, {}), **siblings}
    return out


def ref_siblings(schema: Any, path: str = "#") -> list[str]:
    """Where a ``$ref`` still has sibling keywords (strict mode would reject the schema)."""
    if isinstance(schema, list):
        return [p for i, v in enumerate(schema) for p in ref_siblings(v, f"{path}/{i}")]
    if not isinstance(schema, dict):
        return []
    here = [f"cannot: $ref with sibling keywords at {path}"] if "$ref" in schema and len(schema) > 1 else []
    return here + [p for k, v in schema.items() for p in ref_siblings(v, f"{path}/{k}")]


def check_limits(schema: dict[str, Any]) -> list[str]:
    props = enum_values = budget = 0
    problems: list[str] = []
    depth = 0

    def walk(node: Any, level: int) -> None:
        nonlocal props, enum_values, budget, depth
        if isinstance(node, list):
            for v in node:
                walk(v, level)
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("properties"), dict):
            level += 1
            depth = max(depth, level)
            props += len(node["properties"])
            budget += sum(len(k) for k in node["properties"])
        if isinstance(node.get("enum"), list):
            values = node["enum"]
            enum_values += len(values)
            chars = sum(len(v) for v in values if isinstance(v, str))
            budget += chars
            if len(values) > BIG_ENUM and chars > BIG_ENUM_CHARS:
                problems.append(
                    f"an enum of {len(values)} values has {chars} characters (limit {BIG_ENUM_CHARS})"
                )
        if isinstance(node.get("const"), str):
            budget += len(node["const"])
        for key, value in node.items():
            if key == "$defs" and isinstance(value, dict):
                budget += sum(len(k) for k in value)
                walk(list(value.values()), level)
            elif key == "properties" and isinstance(value, dict):
                walk(list(value.values()), level)
            elif isinstance(value, dict | list) and key not in ("enum", "const", "required"):
                walk(value, level)

    walk(schema, 0)
    if props > MAX_PROPERTIES:
        problems.append(f"{props} properties exceed the limit of {MAX_PROPERTIES}")
    if depth > MAX_DEPTH:
        problems.append(f"{depth} levels of nesting exceed the limit of {MAX_DEPTH}")
    if enum_values > MAX_ENUM_VALUES:
        problems.append(f"{enum_values} enum values exceed the limit of {MAX_ENUM_VALUES}")
    if budget > MAX_STRING_BUDGET:
        problems.append(f"{budget} characters of names and enum values exceed {MAX_STRING_BUDGET}")
    return problems
