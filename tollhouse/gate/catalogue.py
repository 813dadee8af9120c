"""The catalogue as faces see it: every tool's name, schemas, effects and MCP-style annotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tollhouse.tools.base import Effect, Registry, Tool


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    effects: frozenset[str] = frozenset({"read"})
    family: str = "tools"
    annotations: dict[str, bool] = field(default_factory=dict)
    """Defaults serve a spec written by hand (adapters emitting a third party's tool list)."""

    @classmethod
    def of(cls, tool: Tool) -> ToolSpec:
        return cls(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.input_schema(),
            output_schema=tool.output_schema(),
            effects=frozenset(e.value for e in tool.effects),
            family=tool.family,
            annotations={
                "read_only_hint": tool.read_only,
                "destructive_hint": bool(tool.destructive) and not tool.read_only,
                "idempotent_hint": bool(tool.idempotent) or tool.read_only,
                "open_world_hint": Effect.NETWORK in tool.effects,
            },
        )


def build_catalogue(registry: Registry) -> list[ToolSpec]:
    return [ToolSpec.of(tool) for tool in registry]
