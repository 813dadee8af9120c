"""Tool families. Each family module exposes ``TOOLS: list[Tool]``.

Families are imported only when a registry is built, so a face that never lists tools pays nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from tollhouse.tools.base import Effect, Registry, Tool, ToolContext, ToolError

__all__ = [
    "FAMILIES",
    "Effect",
    "Registry",
    "Tool",
    "ToolContext",
    "ToolError",
    "build_registry",
    "registry_for",
]

# family name -> module; a family joins the catalogue by adding one line here.
FAMILIES: dict[str, str] = {
    "files": "tollhouse.tools.files",
    "github": "tollhouse.tools.github",
    "shell": "tollhouse.tools.shell",
    "memory": "tollhouse.tools.memory",
    "cases": "tollhouse.tools.cases",
}


def build_registry(families: Iterable[str] | None = None, extra_modules: Iterable[str] = ()) -> Registry:
    """The built-in families (all, or the named ones) plus tools from ``extra_modules``.

    An extra module is any importable module with a ``TOOLS`` list: the way a team adds its own tools
    (``[tools] modules = ["mypkg.tools"]`` in tollhouse.toml).
    """
    chosen = list(FAMILIES) if families is None else list(families)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown tool families {unknown}; known: {sorted(FAMILIES)}")
    registry = Registry()
    for module_name in [FAMILIES[f] for f in chosen] + list(extra_modules):
        module = importlib.import_module(module_name)
        tools = getattr(module, "TOOLS", None)
        if not isinstance(tools, list) or not all(isinstance(t, Tool) for t in tools):
            raise ValueError(f"module {module_name} must define TOOLS as a list of Tool")
        for tool in tools:
            registry.add(tool)
    return registry


def registry_for(config: Any) -> Registry:
    """The registry a config asks for: its families, its extra modules, and the tools of its trusted
    upstreams (other MCP servers behind the gate, ``[[upstreams]]``)."""
    registry = build_registry(config.tool_families, config.tool_modules)
    if config.data.get("upstreams"):
        from tollhouse.upstreams import add_upstream_tools

        add_upstream_tools(registry, config)
    return registry
