"""What ``tollhouse upstream list|test|trust|diff`` do, as functions a test can call.

``probe`` connects to an upstream as the gate would (same environment, same credentials) and reads
what it offers; ``review`` sets that against the pins (a diff and the scanner's findings); ``trust``
records it. Nothing here publishes anything: the registry reads the pins when the gate opens.
"""

from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

from tollhouse.config import Config, ConfigError
from tollhouse.identity import build_resolver
from tollhouse.upstreams.pins import (
    Change,
    Pins,
    compare,
    load_pins,
    published_name,
    save_pins,
    tool_definition,
)
from tollhouse.upstreams.scan import Finding, scan_definition
from tollhouse.upstreams.spec import UpstreamSpec, parse_upstreams
from tollhouse.upstreams.supervisor import list_all_tools, open_client


@dataclass
class Probe:
    spec: UpstreamSpec
    server: dict[str, Any] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    capabilities: dict[str, bool] = field(default_factory=dict)
    started_ms: float = 0.0
    error: str | None = None


def find_spec(config: Config, name: str) -> UpstreamSpec:
    specs = {s.name: s for s in parse_upstreams(config)}
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none"
        raise ConfigError(f"no upstream named {name!r} in {config.path}; configured: {known}")
    return specs[name]


async def probe(config: Config, spec: UpstreamSpec) -> Probe:
    """Start the upstream, list its tools, stop it. Errors are reported in ``Probe.error``."""
    result = Probe(spec)
    credentials = build_resolver(config, None)
    started = time.perf_counter()
    try:
        async with open_client(spec, credentials, errlog=_quiet()) as client:
            result.started_ms = (time.perf_counter() - started) * 1000
            info = client.server_info
            result.server = {"name": getattr(info, "name", None), "version": getattr(info, "version", None)}
            caps = client.server_capabilities
            result.capabilities = {
                "resources": getattr(caps, "resources", None) is not None,
                "prompts": getattr(caps, "prompts", None) is not None,
            }
            with anyio.fail_after(spec.timeout_s):
                result.definitions = {t.name: tool_definition(t) for t in await list_all_tools(client)}
    except Exception as exc:  # reported, not raised: `upstream test` shows each upstream's state
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return result


def _quiet() -> Any:
    import os

    return open(os.devnull, "w", encoding="utf-8")


@dataclass
class Review:
    spec: UpstreamSpec
    probe: Probe
    pins: Pins | None
    changes: list[Change]
    findings: list[Finding]
    collisions: list[str]

    def diff_lines(self) -> list[str]:
        """A unified diff of each changed definition (pinned -> live), names and additions included."""
        lines: list[str] = []
        pinned = self.pins.tools if self.pins is not None else {}
        for change in self.changes:
            old = _pretty(pinned.get(change.tool))
            new = _pretty(self.probe.definitions.get(change.tool))
            lines.extend(
                difflib.unified_diff(
                    old, new, f"pinned/{change.tool}", f"live/{change.tool}", lineterm="", n=2
                )
            )
        return lines


def _pretty(definition: dict[str, Any] | None) -> list[str]:
    if definition is None:
        return []
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=True).splitlines()


def review(config: Config, spec: UpstreamSpec, probed: Probe, builtin_names: set[str]) -> Review:
    pins = load_pins(config.root, spec)
    changes = compare(pins.tools if pins is not None else {}, probed.definitions)
    findings: list[Finding] = []
    for name, definition in sorted(probed.definitions.items()):
        findings.extend(scan_definition(name, definition))
    collisions: list[str] = []
    seen: dict[str, str] = {}
    for kind, names in (
        ("resources", ("resources_list", "resource_read")),
        ("prompts", ("prompts_list", "prompt_get")),
    ):
        if probed.capabilities.get(kind):
            for extra in names:
                seen[f"{spec.name}_{extra}"] = f"(tollhouse's {kind} tool)"
    for name in sorted(probed.definitions):
        published = published_name(spec.name, name)
        if published in builtin_names:
            collisions.append(f"{name} would be published as {published}, which is already a tool")
        elif published in seen:
            collisions.append(f"{seen[published]!r} and {name!r} would both be published as {published}")
        seen[published] = name
    return Review(spec, probed, pins, changes, findings, collisions)


def trust(config: Config, rev: Review) -> Pins:
    if rev.probe.error is not None:
        raise ConfigError(
            f"upstream {rev.spec.name} could not be reached, so nothing was trusted: {rev.probe.error}"
        )
    if rev.collisions:
        raise ConfigError(
            f"upstream {rev.spec.name} cannot be trusted: "
            + "; ".join(rev.collisions)
            + ". Rename the upstream."
        )
    pins = Pins(
        identity=rev.spec.identity(),
        server=rev.probe.server,
        tools=dict(rev.probe.definitions),
        capabilities=rev.probe.capabilities,
    )
    save_pins(config.root, pins)
    return pins
