"""Case files over MCP: ``tollhouse://cases``, ``case://{id}``, ``case://{id}/receipts``, the
``resume_case`` prompt, and resource-updated notifications in both protocol eras.

The content comes from ``tollhouse.state.casefile`` (plain functions); this module only adapts it.
``install_case_notifications`` works on the SDK's low-level ``Server`` (what ``MCPServer`` wraps):

- 2026-07-28 clients listen with ``subscriptions/listen``; we publish ``ResourceUpdated`` on the
  server's subscription bus (served here if the server does not serve it already);
- handshake-era clients send ``resources/subscribe``; we keep their sessions per uri and push
  ``notifications/resources/updated`` to them.

A case changes when its notes, handoffs or status change, when a fact sourced from it is written or
reviewed (heard through ``tollhouse.state.changes``), and when a face reports a call made on it
(``CaseNotifier.case_changed``, since receipts are summarised in the case file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, SubscriptionBus
from mcp.shared.subscriptions import ResourceUpdated

from tollhouse.server.resources import PromptArgumentSpec, PromptSpec, ResourceNotFound, ResourceSpec
from tollhouse.state import changes
from tollhouse.tools.base import ToolError

if TYPE_CHECKING:
    from tollhouse.state.cases import Handoff
    from tollhouse.state.db import StateDB

log = logging.getLogger(__name__)

INDEX_URI = "tollhouse://cases"
RESUME_INSTRUCTIONS = (
    "You are resuming the case below. Read the latest handoff first, then the facts and contradictions. "
    "Pass case_id (or the request metadata tollhouse/case) on every call you make for it. Propose new "
    "facts with memory_propose. Before you stop, write a handoff with case_handoff: kind done, blocked "
    "(name the blockers), failed, or progress."
)


def _cases():  # type: ignore[no-untyped-def]
    # Imported on first use: the case modules (and the memory ones they use) stay off the serve
    # path until a call names a case or a client reads a case resource.
    from tollhouse.state import cases

    return cases


def _casefile():  # type: ignore[no-untyped-def]
    from tollhouse.state import casefile

    return casefile


def case_uris(case_id: str) -> list[str]:
    return [f"case://{case_id}", f"case://{case_id}/receipts", INDEX_URI]


async def read_index(state: StateDB) -> list[dict[str, Any]]:
    return await _casefile().case_index(state)


async def read_case_file(state: StateDB, receipts_db: Path | None, case_id: str) -> str:
    """The Markdown case file; raises ``CaseInputError`` for a bad or unknown id."""
    return (await _casefile().assemble(state, case_id, receipts_db)).markdown()


async def read_case_receipts(state: StateDB, receipts_db: Path | None, case_id: str) -> dict[str, Any]:
    return await _casefile().case_receipts(state, case_id, receipts_db)


async def resume_prompt(state: StateDB, receipts_db: Path | None, case_id: str) -> str:
    return f"{RESUME_INSTRUCTIONS}\n\n{await read_case_file(state, receipts_db, case_id)}"


class CaseNotifier:
    """Sends resource-updated notifications for changed cases, to listeners of both eras."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self.bus = bus
        self.legacy: dict[str, list[Any]] = {}
        """uri -> sessions that sent ``resources/subscribe`` for it."""
        self._remove: Callable[[], None] | None = None
        self.sessions: set[str] = set()
        """Sessions that made calls on a case through this server (for interrupted handoffs)."""

    async def call_finished(self, case_id: str | None, session: str | None) -> None:
        """A face reports each finished call: a call on a case changes its case file (receipts)."""
        if not case_id or not _cases().CASE_ID_RE.match(case_id):
            return
        if session:
            self.sessions.add(session)
        await self.case_changed(case_id)

    async def write_interrupted(self, state: StateDB, receipts_db: Path) -> list[Handoff]:
        """At shutdown: interrupted handoffs for the calls of this server's sessions that no handoff
        covers (sessions of other servers on the same workspace are left to them)."""
        written: list[Handoff] = []
        for session in sorted(self.sessions):
            written += await _cases().write_interrupted_handoffs(state, receipts_db, session=session)
        return written

    async def on_subscribe(self, ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        sessions = self.legacy.setdefault(str(params.uri), [])
        if ctx.session not in sessions:
            sessions.append(ctx.session)
        return types.EmptyResult()

    async def on_unsubscribe(self, ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        sessions = self.legacy.get(str(params.uri), [])
        if ctx.session in sessions:
            sessions.remove(ctx.session)
        return types.EmptyResult()

    async def case_changed(self, case_id: str) -> None:
        for uri in case_uris(case_id):
            await self.bus.publish(ResourceUpdated(uri=uri))
            for session in list(self.legacy.get(uri, [])):
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # a closed session: forget it, keep notifying the others
                    log.debug("dropping closed subscriber of %s", uri, exc_info=True)
                    self.legacy[uri].remove(session)

    def close(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None


def install_case_notifications(server: Any, bus: SubscriptionBus | None = None) -> CaseNotifier:
    """Wire notifications into a low-level ``mcp.server.Server`` (``MCPServer._lowlevel_server``).

    Pass the server's own bus when it already serves ``subscriptions/listen`` (``MCPServer`` does);
    otherwise a bus is made and ``subscriptions/listen`` served with it. Call ``close()`` at shutdown.
    """
    handlers = getattr(server, "_request_handlers", {})
    if bus is None:
        bus = InMemorySubscriptionBus()
    if "subscriptions/listen" not in handlers:
        server.add_request_handler(
            "subscriptions/listen", types.SubscriptionsListenRequestParams, ListenHandler(bus)
        )
    notifier = CaseNotifier(bus)
    server.add_request_handler("resources/subscribe", types.SubscribeRequestParams, notifier.on_subscribe)
    server.add_request_handler(
        "resources/unsubscribe", types.UnsubscribeRequestParams, notifier.on_unsubscribe
    )
    notifier._remove = changes.add_listener(notifier.case_changed)
    return notifier


# -- the tollhouse face's resource registry (tollhouse.server.resources) ------------------------------


def _state_and_receipts(gate: Any) -> tuple[StateDB, Any]:
    services = gate.services
    receipts = getattr(services, "receipts", None)
    source = getattr(receipts, "source", None)  # on PostgreSQL, this server's log in the store
    if source is not None:
        return services.state, source
    return services.state, Path(services.config.state_dir) / "receipts.db"


def _case_id(req: Any) -> str:
    case_id = req.params.get("id", "")
    try:
        return _cases().check_case_id(case_id)
    except _cases().CaseInputError as exc:
        raise ToolError(str(exc)) from exc


async def _read_index(req: Any) -> Any:
    state, _ = _state_and_receipts(req.gate)
    return await read_index(state)


async def _read_case(req: Any) -> Any:
    state, receipts_db = _state_and_receipts(req.gate)
    case_id = _case_id(req)
    if await _cases().get_case(state, case_id) is None:
        raise ResourceNotFound(req.uri)
    if req.uri.endswith("/receipts"):
        return await read_case_receipts(state, receipts_db, case_id)
    return await read_case_file(state, receipts_db, case_id)


async def _render_resume(req: Any) -> str:
    state, receipts_db = _state_and_receipts(req.gate)
    try:
        return await resume_prompt(state, receipts_db, req.arguments.get("case_id", ""))
    except _cases().CaseInputError as exc:
        raise ToolError(str(exc)) from exc


RESOURCES = [
    ResourceSpec(
        uri=INDEX_URI,
        name="cases",
        title="Cases",
        description="Every case: id, title, status, tags, the kind of its latest handoff, its case:// uri.",
        read=_read_index,
    ),
    ResourceSpec(
        uri="case://{id}",
        name="case-file",
        title="Case file",
        mime_type="text/markdown",
        description="A case as Markdown: goal, status, handoffs, relevant facts, contradictions, open "
        "proposals, receipts summarised, pending approvals.",
        read=_read_case,
    ),
    ResourceSpec(
        uri="case://{id}/receipts",
        name="case-receipts",
        title="Case receipts",
        description="The calls made on a case, newest first, with counts per tool and outcome.",
        read=_read_case,
    ),
]
PROMPTS = [
    PromptSpec(
        name="resume_case",
        title="Resume a case",
        description="Load a case file so an agent can continue where the last one stopped.",
        render=_render_resume,
        arguments=(PromptArgumentSpec("case_id", "The case to resume (see tollhouse://cases)", True),),
    )
]


def register_on_mcpserver(mcp: Any, state: StateDB, receipts_db: Path | None) -> CaseNotifier:
    """Publish the case resources and prompt on an SDK ``MCPServer`` (used by tests and embedders;
    the tollhouse face publishes the same readers through its own resource registry)."""
    from mcp.server.mcpserver.exceptions import ResourceError
    from mcp.server.mcpserver.prompts.base import UserMessage

    @mcp.resource(INDEX_URI, name="cases", title="Cases", mime_type="application/json")
    async def _index() -> list[dict[str, Any]]:
        return await read_index(state)

    @mcp.resource("case://{case_id}", name="case-file", title="Case file", mime_type="text/markdown")
    async def _case(case_id: str) -> str:
        try:
            return await read_case_file(state, receipts_db, case_id)
        except _cases().CaseInputError as exc:
            raise ResourceError(str(exc)) from exc

    @mcp.resource(
        "case://{case_id}/receipts", name="case-receipts", title="Case receipts", mime_type="application/json"
    )
    async def _receipts(case_id: str) -> dict[str, Any]:
        try:
            return await read_case_receipts(state, receipts_db, case_id)
        except _cases().CaseInputError as exc:
            raise ResourceError(str(exc)) from exc

    @mcp.prompt(name="resume_case", title="Resume a case")
    async def _resume(case_id: str) -> list[Any]:
        """Load a case file so an agent can continue the work where the last one stopped."""
        return [UserMessage(await resume_prompt(state, receipts_db, case_id))]

    return install_case_notifications(mcp._lowlevel_server, mcp._subscriptions)
