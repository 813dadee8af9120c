"""The MCP resource and prompt layer: a registry that other parts of tollhouse extend.

A module joins by adding its name to ``RESOURCE_MODULES``; it defines ``RESOURCES: list[ResourceSpec]``
and, optionally, ``PROMPTS: list[PromptSpec]``. A spec whose ``uri`` holds ``{name}`` parts is a
template (``tollhouse://receipts/{id}``, ``case://{id}/receipts``); each part matches one path segment
and arrives in ``ResourceRequest.params``. Modules are imported when the server starts, never on the
CLI's import path.

Every read is receipted by the face (channel, client, uri, status); a reader only returns data:
a ``str`` is served as is, anything else as JSON. A reader raises ``ResourceNotFound`` for a uri it
cannot serve, and ``ToolError`` for a problem the client should read.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Modules that provide resources and prompts, in listing order. Add a line to join.
RESOURCE_MODULES: list[str] = ["tollhouse.server.builtin_resources", "tollhouse.server.case_resources"]


class ResourceNotFound(LookupError):
    """The uri names nothing this server can serve."""


@dataclass
class ResourceRequest:
    gate: Any
    uri: str
    params: dict[str, str]
    channel: str
    client: str | None
    session: str | None
    operator: str | None = None


@dataclass(frozen=True)
class ResourceSpec:
    uri: str
    """A fixed uri, or a template with ``{name}`` parts (one path segment each)."""
    name: str
    title: str
    description: str
    read: Callable[[ResourceRequest], Awaitable[Any]]
    mime_type: str = "application/json"

    @property
    def is_template(self) -> bool:
        return "{" in self.uri

    def match(self, uri: str) -> dict[str, str] | None:
        if not self.is_template:
            return {} if uri == self.uri else None
        found = _compile(self.uri).fullmatch(uri)
        return dict(found.groupdict()) if found else None


@dataclass
class PromptRequest:
    gate: Any
    arguments: dict[str, str]
    channel: str
    client: str | None
    session: str | None


@dataclass(frozen=True)
class PromptArgumentSpec:
    name: str
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    render: Callable[[PromptRequest], Awaitable[str | list[tuple[str, str]]]]
    """Returns one user message's text, or a list of ``(role, text)`` pairs."""
    arguments: tuple[PromptArgumentSpec, ...] = field(default_factory=tuple)


_SEGMENT = r"[^/?#]+"


def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{_SEGMENT})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out))


class ResourceCatalogue:
    """All resources and prompts from ``RESOURCE_MODULES`` (or an explicit list, for tests)."""

    def __init__(self, resources: Iterable[ResourceSpec] = (), prompts: Iterable[PromptSpec] = ()) -> None:
        self.resources = list(resources)
        self.prompts = {p.name: p for p in prompts}

    @classmethod
    def load(cls, modules: Iterable[str] | None = None) -> ResourceCatalogue:
        resources: list[ResourceSpec] = []
        prompts: list[PromptSpec] = []
        for name in RESOURCE_MODULES if modules is None else modules:
            module = importlib.import_module(name)
            resources.extend(getattr(module, "RESOURCES", []))
            prompts.extend(getattr(module, "PROMPTS", []))
        return cls(resources, prompts)

    @property
    def fixed(self) -> list[ResourceSpec]:
        return [r for r in self.resources if not r.is_template]

    @property
    def templates(self) -> list[ResourceSpec]:
        return [r for r in self.resources if r.is_template]

    def find(self, uri: str) -> tuple[ResourceSpec, dict[str, str]]:
        # Fixed uris first, so tollhouse://receipts/recent is never read as receipt id "recent".
        for spec in self.fixed + self.templates:
            params = spec.match(uri)
            if params is not None:
                return spec, params
        raise ResourceNotFound(uri)
