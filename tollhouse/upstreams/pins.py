"""Pinned tool definitions: what an operator trusted of each upstream, kept in the operator's home.

The "rug pull" defence. An upstream's tools are published only as they were when a person trusted them
(``tollhouse upstream trust NAME``): each definition (name, title, description, input and output
schema, annotations) is hashed, and a live definition whose hash differs is withheld until it is
trusted again. The pins live beside the policy trust records, outside the workspace, so no tool an
agent can call may rewrite them. They are bound to how the upstream is reached (its command or url):
pins of another program are no pins of this one.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollhouse.gate.digest import canonical_json, sha256_hex
from tollhouse.opdirs import ensure_private_dir, workspace_dir
from tollhouse.upstreams.spec import UpstreamSpec

MAX_NAME = 64
DEFINITION_KEYS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


def tool_definition(tool: Any) -> dict[str, Any]:
    """An MCP ``Tool`` (or its JSON) as the dict that is pinned: the parts a model reads or obeys."""
    raw = tool if isinstance(tool, dict) else tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {key: raw[key] for key in DEFINITION_KEYS if raw.get(key) is not None}


def definition_digest(definition: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(definition))


def published_name(upstream: str, tool: str) -> str:
    """``<upstream>_<tool>`` as a name every provider accepts (``^[a-z][a-z0-9_]{0,63}$``): lower-cased,
    other characters as ``_``, and a name too long cut with a hash of the original so two long names
    stay apart."""
    body = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", tool.lower())).strip("_") or "tool"
    name = f"{upstream}_{body}"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 9].rstrip("_") + "_" + sha256_hex(tool)[:8]
    return name


@dataclass
class Pins:
    """One upstream's trusted definitions."""

    identity: dict[str, Any]
    server: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Upstream tool name -> its pinned definition."""
    capabilities: dict[str, bool] = field(default_factory=dict)
    """Which of resources / prompts the upstream offered when trusted."""
    trusted_at: float = 0.0

    def digest(self, tool: str) -> str:
        return definition_digest(self.tools[tool])

    def to_json(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "server": self.server,
            "capabilities": self.capabilities,
            "trusted_at": self.trusted_at,
            "tools": {
                name: {"definition": d, "sha256": definition_digest(d)} for name, d in self.tools.items()
            },
        }


def pins_file(root: Path, name: str) -> Path:
    return workspace_dir(root) / "upstreams" / f"{name}.json"


def load_pins(root: Path, spec: UpstreamSpec) -> Pins | None:
    """The upstream's pins, or None when never trusted, unreadable, tampered (a definition not
    matching its own hash), or bound to another command or url."""
    try:
        data = json.loads(pins_file(root, spec.name).read_text(encoding="utf-8"))
        tools: dict[str, dict[str, Any]] = {}
        for name, entry in data["tools"].items():
            definition = entry["definition"]
            if not isinstance(definition, dict) or definition_digest(definition) != entry["sha256"]:
                return None
            tools[str(name)] = definition
        pins = Pins(
            identity=dict(data["identity"]),
            server=dict(data.get("server") or {}),
            tools=tools,
            capabilities={k: bool(v) for k, v in (data.get("capabilities") or {}).items()},
            trusted_at=float(data.get("trusted_at", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return pins if pins.identity == spec.identity() else None


def save_pins(root: Path, pins: Pins) -> Path:
    """Write atomically, readable by the operator only."""
    target = pins_file(root, str(pins.identity["name"]))
    ensure_private_dir(target.parent)
    pins.trusted_at = time.time()
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(pins.to_json(), fh, ensure_ascii=False, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class Change:
    tool: str
    kind: str
    """added, removed or changed"""
    fields: tuple[str, ...] = ()
    """For a change: which parts of the definition differ (description, inputSchema, ...)."""


def compare(pinned: dict[str, dict[str, Any]], live: dict[str, dict[str, Any]]) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(set(pinned) | set(live)):
        if name not in live:
            changes.append(Change(name, "removed"))
        elif name not in pinned:
            changes.append(Change(name, "added"))
        elif definition_digest(pinned[name]) != definition_digest(live[name]):
            differ = tuple(k for k in DEFINITION_KEYS if pinned[name].get(k) != live[name].get(k))
            changes.append(Change(name, "changed", differ))
    return changes
