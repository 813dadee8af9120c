"""Every built-in tool's schema is closed, in the master and in every provider export: no property
beyond the declared ones, at the root and in every nested object. It says what the gate enforces
(an unknown argument is refused), so a model is told the truth about what it may send."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tollhouse.adapters.export import export
from tollhouse.tools import build_registry

REGISTRY = build_registry()
NAMES = {tool.name for tool in REGISTRY}


def objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node that declares properties."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield path, node
            for key, sub in node["properties"].items():
                yield from objects(sub, f"{path}/properties/{key}")
        for key, sub in node.items():
            if key != "properties" and isinstance(sub, dict | list):
                yield from objects(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from objects(sub, f"{path}/{i}")


def schemas(target: str) -> dict[str, dict[str, Any]]:
    exported = export(target, list(REGISTRY))
    if target == "openai":
        return {t["function"]["name"]: t["function"]["parameters"] for t in exported}
    if target == "openai-responses":
        return {t["name"]: t["parameters"] for t in exported}
    if target == "anthropic":
        return {t["name"]: t["input_schema"] for t in exported}
    if target == "gemini":
        return {d["name"]: d["parametersJsonSchema"] for d in exported["functionDeclarations"]}
    return {t["name"]: t["inputSchema"] for t in exported["tools"]}


def test_master_schemas_are_closed() -> None:
    for tool in REGISTRY:
        found = list(objects(tool.input_schema()))
        assert found, tool.name
        for path, node in found:
            assert node.get("additionalProperties") is False, (tool.name, path)


@pytest.mark.parametrize("target", ["openai", "openai-responses", "anthropic", "gemini", "mcp"])
def test_every_export_keeps_every_object_closed(target: str) -> None:
    seen = schemas(target)
    assert set(seen) == NAMES
    for name, schema in seen.items():
        assert schema.get("additionalProperties") is False, (target, name)
        for path, node in objects(schema):
            assert node.get("additionalProperties") is False, (target, name, path)
