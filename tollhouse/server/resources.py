"""The MCP resource and prompt layer: a registry that other parts of tollhouse extend.

A module joins by adding its name to ``RESOURCE_MODULES``; it defines ``RESOURCES: list[ResourceSpec]``
and, optionally, ``PROMPTS: list[PromptSpec]``. A spec whose ``uri`` holds ``{name}`` parts is a
template (``tollhouse://receipts/{id}``, ``case://{id}/receipts``); each part matches one path segment
and arrives in ``ResourceRequest.params``. Modules are imported when the server starts, never on the
CLI's import path.

Every read is receipted by the face (channel, client, uri, status); a reader only returns data:
a ``str`` is served as is, anything else as JSON. A reader raises ``ResourceNotFound`` for a uri it
cannot serve, and ``ToolError`` for a problem the client should read.

What is served passes the gate's redactor here, not in each reader: the catalogue wraps every
``read`` and ``render`` it holds (and their error messages), so a resource or prompt added later is
covered too. State is redacted when written; this pass also covers rows written before that, and
receipts read back.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tollhouse.tools.base import ToolError

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


def _redactor(gate: Any) -> Any:
    from tollhouse.gate.redact import Redactor

    found = getattr(getattr(gate, "services", None), "redactor", None)
    return found if found is not None else Redactor()  # no gate's redactor: still the detectors


def _served(redactor: Any, data: Any) -> Any:
    if isinstance(data, str):
        return redactor.redact_text(data)
    # Through JSON first, so what the face would print with default=str is what is redacted.
    return redactor.redact(json.loads(json.dumps(data, ensure_ascii=False, default=str)))


def _redacting_read(read: Callable[[ResourceRequest], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(read)
    async def wrapped(request: ResourceRequest) -> Any:
        redactor = _redactor(request.gate)
        try:
            return _served(redactor, await read(request))
        except ToolError as exc:
            raise ToolError(redactor.redact_text(str(exc))) from None

    return wrapped


def _redacting_render(
    render: Callable[[PromptRequest], Awaitable[str | list[tuple[str, str]]]],
) -> Callable[..., Awaitable[str | list[tuple[str, str]]]]:
    @functools.wraps(render)
    async def wrapped(request: PromptRequest) -> str | list[tuple[str, str]]:
        redactor = _redactor(request.gate)
        try:
            rendered = await render(request)
        except ToolError as exc:
            raise ToolError(redactor.redact_text(str(exc))) from None
        if isinstance(rendered, str):
            return str(redactor.redact_text(rendered))
        return [(role, redactor.redact_text(text)) for role, text in rendered]

    return wrapped


class ResourceCatalogue:
    """All resources and prompts from ``RESOURCE_MODULES`` (or an explicit list, for tests)."""

    def __init__(self, resources: Iterable[ResourceSpec] = (), prompts: Iterable[PromptSpec] = ()) -> None:
        self.resources = [dataclasses.replace(r, read=_redacting_read(r.read)) for r in resources]
        self.prompts = {p.name: dataclasses.replace(p, render=_redacting_render(p.render)) for p in prompts}

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
