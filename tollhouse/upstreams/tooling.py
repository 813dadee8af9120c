"""An upstream's pinned tool definitions as gate ``Tool``s.

The gate neither knows nor cares that a tool's ``run`` calls another server: each upstream tool gets
an input model built from its JSON Schema (the upstream's own validation runs before policy), effects
from its annotations, and facets from the operator's ``paths`` / ``urls`` declarations, so roots,
immutable paths, path rules and domain rules apply to it like to a built-in tool.
"""

from __future__ import annotations

import keyword
from typing import Any, ClassVar
from urllib.parse import urlsplit

from jsonschema import validators
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from tollhouse.tools.base import Effect, Facets, Tool, ToolContext, ToolInput
from tollhouse.upstreams.pins import Pins, published_name
from tollhouse.upstreams.scan import clean_definition
from tollhouse.upstreams.spec import UpstreamSpec

FAMILY = "upstreams"


class UpstreamInput(ToolInput):
    """Arguments of an upstream tool: the fields its schema names, checked against that schema."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_alias=True)
    upstream_schema: ClassVar[dict[str, Any]] = {}
    upstream_validator: ClassVar[Any] = None

    @model_validator(mode="before")
    @classmethod
    def _check_schema(cls, data: Any) -> Any:
        if cls.upstream_validator is not None and isinstance(data, dict):
            errors = sorted(cls.upstream_validator.iter_errors(data), key=lambda e: list(e.path))
            if errors:
                raise ValueError("; ".join(_error_text(e) for e in errors[:5]))
        return data

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # Published as the upstream wrote it (cleaned of hidden text): no converter between them.
        return dict(cls.upstream_schema)

    def upstream_arguments(self) -> dict[str, Any]:
        """What is sent to the upstream: the arguments the caller gave, by their own names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _error_text(error: Any) -> str:
    where = ".".join(str(p) for p in error.path)
    return f"{where}: {error.message}" if where else error.message


def _field_name(prop: str, index: int) -> str:
    ok = prop.isidentifier() and not keyword.iskeyword(prop) and not prop.startswith("_")
    if ok and not hasattr(BaseModel, prop) and prop not in ("upstream_arguments", "upstream_schema"):
        return prop
    return f"arg_{index}"


def input_model_for(name: str, schema: dict[str, Any]) -> type[UpstreamInput]:
    if schema.get("type", "object") != "object":
        schema = {"type": "object", "properties": {}, "additionalProperties": False}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for index, prop in enumerate(properties):
        field_name = _field_name(prop, index)
        alias = prop if field_name != prop else None
        default = ... if prop in required else None
        fields[field_name] = (Any, Field(default, alias=alias))
    model = create_model(f"{name}_input", __base__=UpstreamInput, **fields)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
        checker = cls(schema)
    except Exception:  # an upstream's broken schema: published as is, its properties checked by pydantic only
        checker = None
    model.upstream_schema = schema
    model.upstream_validator = checker
    return model


class UpstreamOutput(BaseModel):
    """Stands for an upstream tool's output schema in the catalogue (the result itself is passed on)."""

    upstream_schema: ClassVar[dict[str, Any]] = {}

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return dict(cls.upstream_schema)


def output_model_for(name: str, schema: dict[str, Any] | None) -> type[BaseModel] | None:
    if not isinstance(schema, dict):
        return None
    model = type(f"{name}_output", (UpstreamOutput,), {"upstream_schema": schema})
    return model


class UpstreamResult(BaseModel):
    """What an upstream tool call returns through the gate: the MCP content blocks, as sent."""

    model_config = ConfigDict(extra="forbid")
    content: list[dict[str, Any]] = Field(default_factory=list)
    structuredContent: dict[str, Any] | None = None


def _hosts(values: list[str]) -> list[str]:
    hosts = []
    for value in values:
        try:
            host = urlsplit(value.strip()).hostname
        except ValueError:
            host = None
        # An address no parser reads is kept whole: no domain rule can match it, so only a rule
        # without a domains constraint can allow the call.
        hosts.append(host or value)
    return hosts


def _values(args: BaseModel, names: tuple[str, ...]) -> list[str]:
    dumped = args.model_dump(mode="json", by_alias=True)
    out: list[str] = []
    for name in names:
        value = dumped.get(name)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return out


def effects_of(annotations: dict[str, Any]) -> frozenset[Effect]:
    """Read-only only when the upstream says so; open-world adds network. Annotations are the
    upstream's word, pinned with the rest of the definition and shown at trust time."""
    effects = {Effect.READ} if annotations.get("readOnlyHint") is True else {Effect.WRITE}
    if annotations.get("openWorldHint") is True:
        effects.add(Effect.NETWORK)
    return frozenset(effects)


def build_tool(spec: UpstreamSpec, pins: Pins, upstream_tool: str, run: Any) -> Tool:
    definition = clean_definition(pins.tools[upstream_tool])
    name = published_name(spec.name, upstream_tool)
    annotations = definition.get("annotations") or {}
    path_args = spec.paths.get(upstream_tool, ())
    url_args = spec.urls.get(upstream_tool, ())
    input_model = input_model_for(name, definition.get("inputSchema") or {"type": "object"})

    def facets_of(args: BaseModel) -> Facets:
        facets: Facets = {}
        if path_args:
            facets["paths"] = _values(args, path_args)
        if url_args:
            facets["domains"] = _hosts(_values(args, url_args))
        return facets

    async def run_tool(args: UpstreamInput, ctx: ToolContext) -> Any:
        return await run(spec, upstream_tool, args.upstream_arguments(), ctx)

    title = annotations.get("title") or definition.get("title") or upstream_tool
    description = definition.get("description") or ""
    effects = effects_of(annotations)
    tool = Tool(
        name=name,
        title=str(title),
        description=f"{description}\n\n(Upstream MCP server {spec.name!r}, tool {upstream_tool!r}.)".strip(),
        input_model=input_model,
        run=run_tool,
        effects=effects,
        family=FAMILY,
        output_model=output_model_for(name, definition.get("outputSchema")),
        facets_of=facets_of if (path_args or url_args) else None,
        timeout_s=spec.timeout_s + spec.start_timeout_s,  # the call's own limit is applied in run
        idempotent=annotations.get("idempotentHint") is True,
        destructive=annotations.get("destructiveHint") is not False and effects != {Effect.READ},
    )
    return tool
