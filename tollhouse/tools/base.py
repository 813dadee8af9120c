"""The tool model: what a tool is, what it may touch, and the context the gate hands it.

A tool never checks policy and never writes receipts; the gate does both. A tool declares what it
touches (its *effects* and its *facets*: the paths, argv or repositories in a call) so that policy can
decide before it runs, and it reports facts for its receipt through ``ctx.record``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

if TYPE_CHECKING:
    from tollhouse.gate.types import Call
    from tollhouse.workspace import PathJudge, Workspace

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ToolInput(BaseModel):
    """The base of every tool's input model: an argument the tool does not know is refused.

    A model that silently drops a misspelt or invented argument lets a call do something other than
    what its sender (and the person approving it) thought; refusing it also makes every provider
    schema say ``additionalProperties: false``. The gate refuses unknown names for any model (see
    ``unknown_arguments``); this base makes the schema say so too.
    """

    model_config = ConfigDict(extra="forbid")

    _looked_up: Facets | None = PrivateAttr(default=None)
    """Facets the gate looked up for this call (``Tool.lookup_facets``), before deciding."""


def argument_names(model: type[BaseModel]) -> list[str]:
    """The argument names a model accepts (field names and their string aliases)."""
    names: list[str] = []
    # A field with an alias is known by its alias (the name the schema publishes); its Python name
    # counts only where the model also accepts it (populate_by_name / validate_by_name).
    by_name = bool(model.model_config.get("populate_by_name") or model.model_config.get("validate_by_name"))
    for name, info in model.model_fields.items():
        aliased = isinstance(info.alias, str) and info.alias != name
        if not aliased or by_name:
            names.append(name)
        if aliased:
            names.append(str(info.alias))
    return names


def unknown_arguments(model: type[BaseModel], raw: Mapping[str, Any]) -> list[str]:
    """Keys of ``raw`` that ``model`` has no field for, in the order sent."""
    known = set(argument_names(model))
    return [key for key in raw if key not in known]


class Effect(StrEnum):
    READ = "read"
    WRITE = "write"
    EXEC = "exec"
    NETWORK = "network"


class ToolError(Exception):
    """An error the model should see verbatim: what was wrong and what to do next.

    Any other exception from a tool is reported as an internal error without its text, so that a
    stray exception cannot leak data the tool did not mean to show.
    """


class PolicyDenied(ToolError):
    """Raised by a tool whose own guard denies a call that static policy could not judge (the GitHub
    family's repository pinning, say). The gate records it as a denial naming ``rule``."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


Facets = dict[str, list[str]]
"""What a call touches, as policy sees it: ``{"paths": [...], "argv": [...], "repos": [...]}``.

``paths`` are the raw path arguments (policy resolves them inside the workspace roots); ``argv`` is the
token list of one command; ``repos`` are ``owner/name`` strings. A family may add its own facet names;
a rule key of the same name constrains them. ``args.NAME`` holds further values of argument ``NAME``
that the call touches (the subject of a fact a memory write would supersede): a rule's ``args``
constraint on ``NAME`` must hold for each of them too (for a deny rule: for any of them).
"""


@dataclass(frozen=True)
class Tool:
    """One tool. Build it once at import time; the registry checks it."""

    name: str
    title: str
    description: str
    input_model: type[BaseModel]
    run: Callable[[Any, ToolContext], Awaitable[Any]]
    effects: frozenset[Effect]
    family: str
    output_model: type[BaseModel] | None = None
    credential: str | None = None
    """Credential profile id this tool uses (``github:default``); resolved just in time."""
    path_fields: tuple[str, ...] = ()
    """Argument names holding workspace paths (a string or a list of strings)."""
    facets_of: Callable[[BaseModel], Facets] | None = None
    """Custom facet extraction; when set it replaces the default built from ``path_fields``."""
    lookup_facets: Callable[[Any, Any], Awaitable[Facets]] | None = None
    """Facets only state can tell, looked up by the gate before it decides: ``(args, services) ->
    facets``, merged into ``facets(args)``. The input model must derive from ``ToolInput``."""
    timeout_s: float | None = None
    """Default wall-clock limit; the gate's configured limit applies when this is None."""
    idempotent: bool = False
    destructive: bool = False

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {NAME_RE.pattern}")
        if not self.effects:
            raise ValueError(f"tool {self.name} must declare at least one effect")
        if self.lookup_facets is not None and not issubclass(self.input_model, ToolInput):
            raise ValueError(f"tool {self.name} looks up facets, so its input model must be a ToolInput")
        # Descriptions are often docstrings: every face and provider export gets them dedented.
        object.__setattr__(self, "description", inspect.cleandoc(self.description))

    @property
    def read_only(self) -> bool:
        return self.effects <= {Effect.READ}

    def facets(self, args: BaseModel) -> Facets:
        facets = self._own_facets(args)
        looked_up = getattr(args, "_looked_up", None)
        if looked_up:
            facets = {**facets}
            for key, values in looked_up.items():
                facets[key] = [*facets.get(key, []), *values]
        return facets

    def _own_facets(self, args: BaseModel) -> Facets:
        if self.facets_of is not None:
            return self.facets_of(args)
        paths: list[str] = []
        for name in self.path_fields:
            value = getattr(args, name, None)
            if isinstance(value, str):
                paths.append(value)
            elif isinstance(value, list | tuple):
                paths.extend(v for v in value if isinstance(v, str))
        return {"paths": paths} if self.path_fields else {}

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any] | None:
        return self.output_model.model_json_schema() if self.output_model else None


ProgressSink = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass
class ToolContext:
    """What the gate hands a running tool. Built by the gate for each call."""

    call: Call
    tool: Tool
    workspace: Workspace
    services: Any
    """The gate's shared services (state database, credentials, redactor); see ``gate.services``."""
    progress_sink: ProgressSink | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    path_judge: PathJudge | None = None
    """Set by the gate from the call's decision; see ``judge``."""
    failure: tuple[str, str] | None = None
    """(kind, reason) when the tool ran but what it ran failed; see ``command_failed``."""

    @property
    def roots(self) -> tuple[Any, ...]:
        """The roots this call may use: the operator's, narrowed by any roots the client announced."""
        return self.workspace.effective_roots(self.call.client_roots)

    @property
    def judge(self) -> PathJudge:
        """Which files this call may open, list, search or stat beyond its path arguments: policy's
        path rules for every file a walker meets (built by the gate). Without a gate, the built-in
        rules alone (the state directory is never reached either way). A tool asks it; it never
        reads policy itself."""
        if self.path_judge is None:
            from tollhouse.workspace import PathJudge

            self.path_judge = PathJudge(self.workspace)
        return self.path_judge

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress; forwarded to the client (MCP progress notifications) when it listens."""
        if self.progress_sink is not None:
            await self.progress_sink(progress, total, message)

    def command_failed(self, kind: str, reason: str) -> None:
        """Say the tool did its job but the thing it ran failed (a command's non-zero exit, its own
        timeout): the outcome stays ``ok`` (there is a result to read), and the receipt records
        ``details.failed = kind`` and ``reason`` as its message, so it reads apart from a tool error.
        ``kind`` is ``exit``, ``signal`` or ``timeout``."""
        self.failure = (kind, reason)
        self.facts["failed"] = kind

    def record(self, **facts: Any) -> None:
        """Add facts to this call's outcome receipt (paths, byte counts, digests, exit codes).

        Values must be JSON-serialisable; they are redacted before they are stored.
        """
        self.facts.update(facts)

    async def credential(self) -> str:
        """Resolve this tool's credential profile, registering the value with the redactor."""
        if self.tool.credential is None:
            raise ToolError(f"tool {self.tool.name} has no credential profile")
        resolver = getattr(self.services, "credentials", None)
        if resolver is None:
            raise ToolError(f"no credential resolver is configured for {self.tool.credential}")
        value: str = await resolver.resolve(self.tool.credential)
        self.call.credentials_used.append(self.tool.credential)
        return value


class Registry:
    """The catalogue: every tool by name. Faces list it; only the gate runs what is in it."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self.withholders: list[Callable[[Any], Awaitable[dict[str, str]]]] = []
        """Families whose tools can be withheld after the catalogue was built (an upstream whose
        definition changed since it was trusted): ``(services) -> {tool name: why}``."""
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"duplicate tool name {tool.name}")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def families(self) -> Mapping[str, list[Tool]]:
        out: dict[str, list[Tool]] = {}
        for tool in self:
            out.setdefault(tool.family, []).append(tool)
        return out
