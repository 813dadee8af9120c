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


@dataclass(frozen=True)
class Publish:
    """How a serving face narrows its catalogue (``serve --read-only``, ``serve --families``)."""

    read_only: bool = False
    """Only tools whose every effect is read (no write, exec or network), as ``readOnlyHint`` says."""
    families: frozenset[str] | None = None
    """Only tools of these families; None: every family the config loads."""


def hidden_tools(registry: Registry, could_allow: Any, publish: Publish) -> dict[str, str]:
    """Tool name -> why a face serving ``publish`` neither lists nor runs it.

    A tool policy could never allow costs a model its schema for nothing and invites probing, so it is
    hidden like one the operator narrowed away."""
    hidden: dict[str, str] = {}
    for tool in registry:
        if not could_allow(tool):
            hidden[tool.name] = "no rule in the policy could allow it"
        elif publish.families is not None and tool.family not in publish.families:
            hidden[tool.name] = f"its family {tool.family!r} is not served (serve --families)"
        elif publish.read_only and not tool.read_only:
            effects = ", ".join(sorted(e.value for e in tool.effects))
            hidden[tool.name] = f"it is not read-only (effects: {effects}) and the server runs --read-only"
    return hidden
