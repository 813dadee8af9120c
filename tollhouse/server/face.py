"""The MCP face: a low-level ``mcp.server.Server`` whose every tools/call goes through the gate.

Why the low-level server and not ``MCPServer``: ``MCPServer`` validates arguments itself and answers
unknown tool names before any handler runs, so those calls would never reach the gate and would leave
no receipt. Here ``params.arguments`` reaches the gate as the raw dict the client sent; the gate
validates it against the tool's own model and receipts the failure. The SDK's request-state boundary
is installed by hand (``MCPServer`` does that for itself) so 2026 approval round trips stay sealed.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError

from tollhouse import __version__
from tollhouse.gate.catalogue import Publish
from tollhouse.gate.types import Call
from tollhouse.server.approvals import ElicitationApprover, SpentApprovals
from tollhouse.server.case_resources import install_case_notifications
from tollhouse.server.client_relay import ClientRelay
from tollhouse.server.pagination import refuse_unknown_cursors
from tollhouse.server.resources import RESOURCE_MODULES, ResourceCatalogue, ResourceNotFound, ResourceRequest
from tollhouse.server.results import fit_event, outcome_to_result, spec_to_tool
from tollhouse.server.roots import ClientRoots
from tollhouse.tools.base import ToolError

log = logging.getLogger("tollhouse.server")

SERVER_NAME = "tollhouse"
CASE_META_KEY = "tollhouse/case"
INSTRUCTIONS = (
    "Every tool call passes tollhouse's policy gate and leaves a signed receipt. A denial names the "
    "rule that decided it; do not retry a denied call unchanged. Read tollhouse://policy for the rules."
)


def client_label(ctx: ServerRequestContext[Any, Any]) -> str:
    params = ctx.session.client_params
    info = params.client_info if params is not None else None
    if info is None:
        return "unknown"
    return f"{info.name}/{info.version}" if info.version else info.name


RESOURCE_FAMILY = {"tollhouse.server.case_resources": "cases"}
"""Resource modules that belong to a tool family: ``serve --families`` without it leaves them out
(case files hold memory facts and receipts). The gate's own resources (policy, receipts) always stay."""


def _resource_modules(publish: Publish | None) -> list[str]:
    families = publish.families if publish is not None else None
    return [m for m in RESOURCE_MODULES if families is None or RESOURCE_FAMILY.get(m, "") in families | {""}]


def _meta_value(meta: Any, key: str) -> Any:
    if meta is None:
        return None
    if isinstance(meta, dict):
        return meta.get(key)
    return getattr(meta, key, None)


class McpFace:
    """Builds and holds the ``Server`` for one gate and one channel (``mcp-stdio`` or ``mcp-http``)."""

    def __init__(
        self,
        gate: Any,
        channel: str,
        *,
        resources: ResourceCatalogue | None = None,
        operator_of: Any = None,
        identity_of: Any = None,
        max_event_bytes: int | None = None,
        publish: Publish | None = None,
        sealing_keys: list[bytes] | None = None,
    ) -> None:
        self.gate = gate
        self.channel = channel
        self.max_event_bytes = max_event_bytes
        """HTTP: the most JSON one tools/call result may take (see ``fit_event``); None for stdio."""
        self.resources = (
            resources if resources is not None else ResourceCatalogue.load(_resource_modules(publish))
        )
        self.operator_of = operator_of
        """Callable returning the operator for the current request (a name), or None."""
        self.identity_of = identity_of
        """Callable returning the ``Principal`` of the current request (HTTP: the token's), or None;
        its name is the operator, its groups reach policy and receipts, its scopes may narrow the
        tools to read-only ones."""
        self.process_session = uuid.uuid4().hex
        self.spent_approvals = SpentApprovals()
        """2026-era approval states already used: each runs its call at most once."""
        # Only what policy could allow (narrowed by serve --read-only / --families) is listed; the
        # gate refuses the rest by name.
        specs = gate.publish(publish)
        self._tools = [spec_to_tool(s) for s in specs]
        self._schemas = {t.name: t.input_schema for t in self._tools}
        self._has_output = {t.name: t.output_schema is not None for t in self._tools}
        # Upstream tools' results are MCP content blocks already (images, audio, resources): passed on.
        self._passthrough = {s.name for s in gate.catalogue() if s.family == "upstreams"}
        self._read_only = {s.name: bool(s.annotations.get("read_only_hint")) for s in specs}
        config = gate.services.config
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            instructions=INSTRUCTIONS,
            get_tool_input_schema=self._schemas.get,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
        )
        # Client roots (handshake era): cached per session, forgotten when the client says they changed.
        self.client_roots = ClientRoots()
        self.server.add_notification_handler(
            "notifications/roots/list_changed", types.NotificationParams, self._roots_changed
        )
        # Case files: resource-updated notifications (both eras) when a case or its receipts change.
        self.case_notifier = install_case_notifications(self.server)
        # A configured key ring lets replicas unseal each other's approval states (serve --http);
        # without one the key lives only in this process.
        ttl = float(config.approval_ttl_s)
        security = (
            RequestStateSecurity(keys=sealing_keys, ttl=ttl, audience=SERVER_NAME)
            if sealing_keys
            else RequestStateSecurity.ephemeral(ttl=ttl, audience=SERVER_NAME)
        )
        self.server.middleware.append(RequestStateBoundary(security, default_audience=SERVER_NAME))
        self.server.middleware.append(self._receipt_malformed_calls)
        self.server.middleware.append(refuse_unknown_cursors)

    # -- identity of a request ----------------------------------------------------------------------

    def _session(self, ctx: ServerRequestContext[Any, Any]) -> str:
        request = ctx.request
        headers = getattr(request, "headers", None)
        if headers is not None:
            sid = headers.get("mcp-session-id")
            if sid:
                return str(sid)
        return self.process_session

    def _operator(self) -> str | None:
        who = self._who()
        if who is not None:
            return who.name
        return self.operator_of() if self.operator_of is not None else None

    def _who(self) -> Any:
        return self.identity_of() if self.identity_of is not None else None

    def _identify(self, call: Call) -> Call:
        """The request's principal on the call: operator name, groups, and read-only narrowing."""
        who = self._who()
        if who is not None:
            call.operator = who.name
            call.groups = tuple(who.groups)
            call.read_only = bool(who.read_only)
        return call

    async def _receipt_malformed_calls(self, ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        """A tools/call whose ``arguments`` is not an object never reaches ``_call_tool``: the SDK answers
        -32602 first. It is still an attempted call of a named tool, so the gate receipts it (an
        ``error`` outcome: arguments are not a JSON object) before the SDK answers as it always does."""
        params = ctx.params
        if ctx.method == "tools/call" and isinstance(params, dict):
            name, arguments = params.get("name"), params.get("arguments")
            if isinstance(name, str) and arguments is not None and not isinstance(arguments, dict):
                await self.gate.call(
                    self._identify(
                        Call(
                            tool=name,
                            arguments=arguments,
                            channel=self.channel,  # type: ignore[arg-type]
                            client=client_label(ctx),
                            session=self._session(ctx),
                            operator=self._operator(),
                        )
                    )
                )
        return await call_next(ctx)

    # -- tools --------------------------------------------------------------------------------------

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        withheld = await self.gate.withheld() if self._passthrough else {}
        tools = [t for t in self._tools if t.name not in withheld]
        who = self._who()
        if who is not None and who.read_only:
            # A token whose scopes grant reading only is shown the read-only tools only.
            tools = [t for t in tools if self._read_only.get(t.name)]
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        client = client_label(ctx)
        arguments: Any = params.arguments if params.arguments is not None else {}
        approver = ElicitationApprover(
            ctx=ctx,
            client=client,
            input_responses=dict(params.input_responses or {}),
            request_state=params.request_state,
            spent=self.spent_approvals,
        )
        case = _meta_value(params.meta, CASE_META_KEY)

        async def progress(value: float, total: float | None, message: str | None) -> None:
            try:
                await ctx.session.report_progress(value, total, message)
            except Exception:  # a client that went away must not fail the tool
                log.debug("progress notification dropped", exc_info=True)

        session = self._session(ctx)
        call = Call(
            tool=params.name,
            arguments=arguments,
            channel=self.channel,  # type: ignore[arg-type]
            client=client,
            session=session,
            client_roots=await self.client_roots.for_call(ctx, session),
            case=case if isinstance(case, str) and case else None,
            operator=self._operator(),
            approver=approver,
            progress=progress,
            client_requests=ClientRelay(ctx, self.gate),
            result_budget=self.max_event_bytes,
        )
        self._identify(call)
        # The gate checks limits.max_argument_bytes, validates, and receipts every refusal.
        outcome = await self.gate.call(call)
        await self.case_notifier.call_finished(call.case, call.session)
        if approver.pending is not None and outcome.status in ("needs_approval", "denied"):
            return approver.input_required()
        result = outcome_to_result(
            outcome, self._has_output.get(params.name, False), passthrough=params.name in self._passthrough
        )
        return fit_event(result, self.max_event_bytes)

    async def _roots_changed(
        self, ctx: ServerRequestContext[Any, Any], params: types.NotificationParams | None
    ) -> None:
        self.client_roots.invalidate(self._session(ctx))

    async def _record(self, call: Call, kind: str, details: dict[str, Any]) -> None:
        try:
            await self.gate.record_event(call, kind=kind, details=details)
        except Exception:
            log.exception("could not record %s event", kind)
            raise

    # -- resources and prompts ----------------------------------------------------------------------

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=r.uri, name=r.name, title=r.title, description=r.description, mime_type=r.mime_type
                )
                for r in self.resources.fixed
            ]
        )

    async def _list_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=r.uri,
                    name=r.name,
                    title=r.title,
                    description=r.description,
                    mime_type=r.mime_type,
                )
                for r in self.resources.templates
            ]
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        client = client_label(ctx)
        session = self._session(ctx)
        event = Call(
            tool="resources_read",
            arguments={"uri": uri},
            channel=self.channel,  # type: ignore[arg-type]
            client=client,
            session=session,
            operator=self._operator(),
        )
        self._identify(event)
        status, data, mime = "ok", None, "application/json"
        try:
            spec, found = self.resources.find(uri)
            mime = spec.mime_type
            request = ResourceRequest(
                gate=self.gate,
                uri=uri,
                params=found,
                channel=self.channel,
                client=client,
                session=session,
                operator=event.operator,
            )
            data = await spec.read(request)
        except ResourceNotFound:
            status = "not_found"
        except ToolError as exc:
            status, data = "error", str(exc)
        except Exception:
            log.exception("resource %s failed", uri)
            status, data = "error", "internal error"
        await self._record(event, "resource_read", {"uri": uri, "status": status})
        if status == "not_found":
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown resource: {uri}")
        if status == "error":
            raise MCPError(code=types.INTERNAL_ERROR, message=f"Could not read {uri}: {data}")
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=2, default=str)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)]
        )

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name=p.name,
                    title=p.title,
                    description=p.description,
                    arguments=[
                        types.PromptArgument(name=a.name, description=a.description, required=a.required)
                        for a in p.arguments
                    ],
                )
                for p in self.resources.prompts.values()
            ]
        )

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        from tollhouse.server.resources import PromptRequest

        spec = self.resources.prompts.get(params.name)
        if spec is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
        arguments = dict(params.arguments or {})
        missing = [a.name for a in spec.arguments if a.required and a.name not in arguments]
        if missing:
            raise MCPError(
                code=types.INVALID_PARAMS, message=f"Missing prompt arguments: {', '.join(missing)}"
            )
        try:
            rendered = await spec.render(
                PromptRequest(
                    gate=self.gate,
                    arguments=arguments,
                    channel=self.channel,
                    client=client_label(ctx),
                    session=self._session(ctx),
                )
            )
        except ToolError as exc:
            raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from exc
        pairs = [("user", rendered)] if isinstance(rendered, str) else rendered
        return types.GetPromptResult(
            description=spec.description,
            messages=[
                types.PromptMessage(role=role, content=types.TextContent(type="text", text=text))  # type: ignore[arg-type]
                for role, text in pairs
            ],
        )
