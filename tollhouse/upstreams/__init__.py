"""Other MCP servers behind the gate (``[[upstreams]]`` in tollhouse.toml).

An upstream's tools join the registry as ordinary ``Tool``s named ``<upstream>_<tool>``, built from the
definitions an operator trusted (``tollhouse upstream trust NAME``); the gate runs them like any other
tool, and their ``run`` is the only code that talks to the upstream. Nothing is published for an
upstream that was never trusted.
"""

from __future__ import annotations

from typing import Any

import anyio

from tollhouse.config import Config, ConfigError
from tollhouse.tools.base import Registry, Tool, ToolContext
from tollhouse.upstreams.extras import extra_tools
from tollhouse.upstreams.pins import Pins, load_pins, published_name
from tollhouse.upstreams.spec import UpstreamSpec, parse_upstreams
from tollhouse.upstreams.supervisor import Upstream, withheld_message
from tollhouse.upstreams.tooling import UpstreamResult, build_tool

__all__ = ["add_upstream_tools", "manager_of", "parse_upstreams", "upstream_tools"]

SHARED_KEY = "upstreams"
LIST_WAIT_S = 10.0
"""How long a tools/list waits for an upstream's start to learn which of its tools are withheld;
past it the pinned tools are listed and a call still refuses a withheld one."""

_PUBLISHED: dict[tuple[str, str], Pins] = {}
"""(workspace root, upstream) -> the pins its tools were last published from in this process."""


class Manager:
    """Every upstream of one gate, started on demand and stopped when the gate closes."""

    def __init__(self, config: Config, services: Any) -> None:
        self.services = services
        self.upstreams: dict[str, Upstream] = {}
        for spec in parse_upstreams(config):
            # The pins the registry was built from, so what runs is what was published.
            pins = _PUBLISHED.get((str(config.root), spec.name), None) or load_pins(config.root, spec)
            self.upstreams[spec.name] = Upstream(spec, pins, services)

    def get(self, name: str) -> Upstream:
        return self.upstreams[name]

    async def withheld(self) -> dict[str, str]:
        """Published name -> why it is withheld, for every trusted upstream (started if need be, so
        a list shows what a call would get)."""
        out: dict[str, str] = {}
        for upstream in self.upstreams.values():
            if upstream.pins is None:
                continue
            live = None
            try:
                with anyio.move_on_after(LIST_WAIT_S):  # a slow start goes on; the list does not wait
                    live = await upstream.ensure()
            except Exception as exc:  # a list must not fail because one upstream is down
                for tool in upstream.pins.tools:
                    out[published_name(upstream.spec.name, tool)] = str(exc)
                continue
            if live is None:
                continue
            for tool, change in live.withheld.items():
                out[published_name(upstream.spec.name, tool)] = withheld_message(upstream.spec.name, change)
        return out

    async def aclose(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.aclose()


def manager_of(services: Any) -> Manager:
    manager = services.shared.get(SHARED_KEY)
    if manager is None:
        manager = Manager(services.config, services)
        services.shared[SHARED_KEY] = manager
        services.on_close(manager.aclose)
    return manager


async def _run(spec: UpstreamSpec, tool: str, arguments: dict[str, Any], ctx: ToolContext) -> UpstreamResult:
    result = await manager_of(ctx.services).get(spec.name).call(tool, arguments, ctx)
    return UpstreamResult(**result)


async def _withheld(services: Any) -> dict[str, str]:
    return await manager_of(services).withheld()


def upstream_tools(config: Config) -> list[Tool]:
    """Tools of every trusted upstream, as pinned."""
    tools: list[Tool] = []
    for spec in parse_upstreams(config):
        pins = load_pins(config.root, spec)
        if pins is None:
            _PUBLISHED.pop((str(config.root), spec.name), None)
            continue
        _PUBLISHED[(str(config.root), spec.name)] = pins
        seen: dict[str, str] = {}
        for upstream_tool in sorted(pins.tools):
            name = published_name(spec.name, upstream_tool)
            if name in seen:
                raise ConfigError(
                    f"upstream {spec.name}: tools {seen[name]!r} and {upstream_tool!r} would both be "
                    f"published as {name}; the upstream must rename one",
                    file=config.path,
                    line=config.line_of("upstreams"),
                )
            seen[name] = upstream_tool
            tools.append(build_tool(spec, pins, upstream_tool, _run))
        for extra in extra_tools(spec, pins.capabilities, manager_of):
            if extra.name in seen:
                raise ConfigError(
                    f"upstream {spec.name}: its tool {seen[extra.name]!r} would be published as "
                    f"{extra.name}, the name of the tool that reaches its resources or prompts",
                    file=config.path,
                    line=config.line_of("upstreams"),
                )
            tools.append(extra)
    return tools


def add_upstream_tools(registry: Registry, config: Config) -> None:
    """Add every trusted upstream's tools; a name another tool already has is a config error."""
    for tool in upstream_tools(config):
        if tool.name in registry:
            other = registry.get(tool.name)
            family = getattr(other, "family", "?")
            raise ConfigError(
                f"upstream tool {tool.name} collides with the {family} tool of the same name; rename "
                "the upstream (its name prefixes every tool it publishes)",
                file=config.path,
                line=config.line_of("upstreams"),
            )
        registry.add(tool)
    if config.data.get("upstreams"):
        registry.withholders.append(_withheld)
