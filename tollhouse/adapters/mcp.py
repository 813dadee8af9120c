"""The MCP ``tools/list`` view of the catalogue (``mcp_types.Tool``), the format the rest is lowered from."""

from __future__ import annotations

from typing import Any

from tollhouse.adapters.spec import specs_of


def tools(source: Any) -> list[Any]:
    """``mcp_types.Tool`` per tool: the master schema unchanged, annotations as hints."""
    import mcp_types

    out = []
    for spec in specs_of(source):
        hints = spec.annotations or {}
        annotations = mcp_types.ToolAnnotations(
            title=spec.title,
            read_only_hint=hints.get("read_only_hint"),
            destructive_hint=hints.get("destructive_hint"),
            idempotent_hint=hints.get("idempotent_hint"),
            open_world_hint=hints.get("open_world_hint"),
        )
        schema = dict(spec.input_schema)
        schema.setdefault("type", "object")
        out.append(
            mcp_types.Tool(
                name=spec.name,
                title=spec.title,
                description=spec.description,
                input_schema=schema,
                output_schema=spec.output_schema,
                annotations=annotations,
            )
        )
    return out


def tools_list_json(source: Any) -> dict[str, Any]:
    """The ``tools/list`` result as wire JSON (camelCase)."""
    return {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools(source)]}
