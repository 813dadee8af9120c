"""An upstream's resources and prompts, reached through the gate as tools of its own.

Tools are the one thing every face carries (MCP, provider exports, Agent Skills), and the gate is the
one door: so listing and reading an upstream's resources and prompts are four tollhouse tools per
upstream (``<up>_resources_list``, ``<up>_resource_read``, ``<up>_prompts_list``, ``<up>_prompt_get``),
decided by policy (``args = { uri = "..." }`` narrows reads), redacted and receipted like any call.
They are published when the upstream offered resources / prompts at trust time.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from tollhouse.tools.base import Effect, Tool, ToolContext, ToolInput
from tollhouse.upstreams.spec import UpstreamSpec
from tollhouse.upstreams.tooling import FAMILY, UpstreamResult


class _Page(ToolInput):
    cursor: str | None = Field(default=None, description="Where the previous page ended (next_cursor)")


class _Read(ToolInput):
    uri: str = Field(description="The resource's URI, as listed", min_length=1, max_length=4096)


class _Prompt(ToolInput):
    name: str = Field(description="The prompt's name, as listed", min_length=1, max_length=256)
    arguments: dict[str, str] = Field(default_factory=dict, description="The prompt's arguments")


def _listing(key: str, items: list[Any], cursor: str | None) -> UpstreamResult:
    rows = [i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in items]
    data: dict[str, Any] = {key: rows, "next_cursor": cursor}
    return UpstreamResult(
        content=[{"type": "text", "text": json.dumps(data, ensure_ascii=False, indent=1)}],
        structuredContent=data,
    )


def extra_tools(spec: UpstreamSpec, capabilities: dict[str, bool], manager_of: Any) -> list[Tool]:
    """The resource and prompt tools of one upstream; ``manager_of(services)`` finds its connection."""
    name = spec.name

    def upstream(ctx: ToolContext) -> Any:
        return manager_of(ctx.services).get(name)

    async def resources_list(args: _Page, ctx: ToolContext) -> UpstreamResult:
        client = await upstream(ctx).client_for(ctx)
        page = await client.list_resources(cursor=args.cursor, cache_mode="refresh")
        templates = (
            await client.list_resource_templates(cache_mode="refresh") if args.cursor is None else None
        )
        result = _listing("resources", page.resources, page.next_cursor)
        if templates is not None:
            rows = [
                t.model_dump(mode="json", by_alias=True, exclude_none=True)
                for t in templates.resource_templates
            ]
            assert result.structuredContent is not None
            result.structuredContent["templates"] = rows
            result.content = [{"type": "text", "text": json.dumps(result.structuredContent, indent=1)}]
        return result

    async def resource_read(args: _Read, ctx: ToolContext) -> UpstreamResult:
        client = await upstream(ctx).client_for(ctx)
        read = await client.read_resource(args.uri)
        blocks = [
            {"type": "resource", "resource": c.model_dump(mode="json", by_alias=True, exclude_none=True)}
            for c in read.contents
        ]
        return UpstreamResult(content=blocks)

    async def prompts_list(args: _Page, ctx: ToolContext) -> UpstreamResult:
        client = await upstream(ctx).client_for(ctx)
        page = await client.list_prompts(cursor=args.cursor, cache_mode="refresh")
        return _listing("prompts", page.prompts, page.next_cursor)

    async def prompt_get(args: _Prompt, ctx: ToolContext) -> UpstreamResult:
        client = await upstream(ctx).client_for(ctx)
        got = await client.get_prompt(args.name, args.arguments or None)
        data = got.model_dump(mode="json", by_alias=True, exclude_none=True)
        return UpstreamResult(
            content=[{"type": "text", "text": json.dumps(data, ensure_ascii=False, indent=1)}],
            structuredContent=data,
        )

    where = f"(Upstream MCP server {name!r}, through tollhouse's gate.)"
    read = frozenset({Effect.READ})
    tools: list[Tool] = []
    if capabilities.get("resources"):
        tools += [
            Tool(f"{name}_resources_list", f"{name}: list resources",
                 f"List the resources and resource templates upstream {name!r} offers. {where}",
                 _Page, resources_list, read, FAMILY, timeout_s=spec.timeout_s + spec.start_timeout_s),
            Tool(f"{name}_resource_read", f"{name}: read a resource",
                 f"Read one resource of upstream {name!r} by URI. {where}",
                 _Read, resource_read, read, FAMILY, timeout_s=spec.timeout_s + spec.start_timeout_s),
        ]  # fmt: skip
    if capabilities.get("prompts"):
        tools += [
            Tool(f"{name}_prompts_list", f"{name}: list prompts",
                 f"List the prompts upstream {name!r} offers. {where}",
                 _Page, prompts_list, read, FAMILY, timeout_s=spec.timeout_s + spec.start_timeout_s),
            Tool(f"{name}_prompt_get", f"{name}: get a prompt",
                 f"Render one prompt of upstream {name!r} with its arguments. {where}",
                 _Prompt, prompt_get, read, FAMILY, timeout_s=spec.timeout_s + spec.start_timeout_s),
        ]  # fmt: skip
    return tools
