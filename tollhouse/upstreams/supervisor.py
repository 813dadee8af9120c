"""Running upstreams: start on demand, one connection each, restart with backoff, stop everything.

Each upstream's ``mcp.Client`` lives in a task of its own that owns the connection (the SDK's transport
and session task groups must be entered and left by one task). Calls from the gate use the connected
client from any task. When a call outlives its time the upstream is stopped: for a stdio upstream the
SDK closes its stdin and then kills its whole process group (it is started in a session of its own),
so nothing it started survives it. The next call starts it again.

On every connect the live tool definitions are compared with the operator's pins: a tool whose
definition changed is withheld (the call is refused, saying why) until it is trusted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tollhouse.tools.base import ToolContext, ToolError
from tollhouse.upstreams.groups import find_group, kill_group, session_children
from tollhouse.upstreams.pins import Change, Pins, compare, definition_digest, tool_definition
from tollhouse.upstreams.spec import PLACEHOLDER_RE, UpstreamSpec

log = logging.getLogger("tollhouse.upstreams")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
LIST_PAGES_MAX = 50


_CALL: contextvars.ContextVar[ToolContext | None] = contextvars.ContextVar(
    "tollhouse_upstream_call", default=None
)
"""The call being made, for a request the upstream makes during it (see ``Upstream._relay``)."""


class UpstreamUnavailable(ToolError):
    """The upstream could not be reached (not started, crashed, backing off)."""


async def resolve_values(
    values: dict[str, str], credentials: Any, used: list[str] | None = None
) -> dict[str, str]:
    """``{profile:id}`` placeholders replaced by each profile's secret (registered with the redactor)."""
    out: dict[str, str] = {}
    for key, text in values.items():
        parts: list[str] = []
        last = 0
        for match in PLACEHOLDER_RE.finditer(text):
            if credentials is None:
                raise UpstreamUnavailable(f"no credential resolver to read profile {match.group(1)}")
            parts.append(text[last : match.start()])
            parts.append(await credentials.resolve(match.group(1)))
            if used is not None:
                used.append(match.group(1))
            last = match.end()
        parts.append(text[last:])
        out[key] = "".join(parts)
    return out


async def list_all_tools(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(LIST_PAGES_MAX):
        page = await client.list_tools(cursor=cursor, cache_mode="refresh")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


@contextlib.asynccontextmanager
async def open_client(spec: UpstreamSpec, credentials: Any, errlog: Any = None, **client_kwargs: Any) -> Any:
    """A connected ``mcp.Client`` for ``spec`` (used by the supervisor and by ``upstream test|trust``)."""
    used: list[str] = []
    if spec.command:
        env = await resolve_values(spec.env, credentials, used)
        params = StdioServerParameters(
            command=spec.command[0],
            args=list(spec.command[1:]),
            env=env,
            cwd=str(spec.cwd) if spec.cwd else None,
        )
        target: Any = params
        if errlog is not None:
            from mcp.client.stdio import stdio_client

            target = stdio_client(params, errlog=errlog)
    else:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = await resolve_values(spec.headers, credentials, used)
        http = httpx2.AsyncClient(headers=headers, timeout=spec.timeout_s)
        target = streamable_http_client(str(spec.url), http_client=http)
    # The handshake is bounded by the client's read timeout (a cancel scope around entering the
    # client would have to be left before the client's own task groups, which anyio forbids).
    timeout = max(spec.start_timeout_s, spec.timeout_s)
    async with Client(target, read_timeout_seconds=timeout, cache=None, **client_kwargs) as client:
        yield client


@dataclass
class Live:
    """What the running upstream offers now, against the pins."""

    client: Client
    server: dict[str, Any]
    definitions: dict[str, dict[str, Any]]
    withheld: dict[str, Change] = field(default_factory=dict)


class Upstream:
    """One upstream: its spec, pins and, while it runs, its connection."""

    def __init__(self, spec: UpstreamSpec, pins: Pins | None, services: Any) -> None:
        self.spec = spec
        self.pins = pins
        self.services = services
        self.live: Live | None = None
        self.failures = 0
        self.last_failure = 0.0
        self.last_error = ""
        self.starts = 0
        self._lock = anyio.Lock()
        self._owner: asyncio.Task[None] | None = None
        self._stop: anyio.Event | None = None
        self._relist = False
        self._errlog: Any = None
        self._digests: dict[str, str | None] = {}
        self._pgid: int | None = None
        self._ready: asyncio.Future[Live] | None = None
        self._calls: dict[str, ToolContext] = {}
        """Calls in flight, by call id: whom an upstream's request during a call is for."""

    # -- lifecycle ----------------------------------------------------------------------------------

    async def ensure(self) -> Live:
        if self.live is not None and not self._relist:
            return self.live
        async with self._lock:
            if self.live is not None and self._relist:
                self._relist = False
                await self._check_definitions(self.live)
            if self.live is not None:
                return self.live
            if self._ready is None:
                wait = self._backoff_left()
                if wait > 0:
                    raise UpstreamUnavailable(
                        f"upstream {self.spec.name} failed {self.failures} times in a row "
                        f"(last: {self.last_error}); the next start is tried in {wait:.1f} s"
                    )
                self._ready = self._launch()
            ready = self._ready
        # Shielded: a caller that gives up (cancelled, or a list that would not wait) leaves the start
        # running, and the next caller waits for the same one instead of starting a second server.
        try:
            return await asyncio.shield(ready)
        except Exception as exc:
            why = f"could not start: {type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if self._ready is ready:
                self._ready = None
                self._failed(why)
            raise UpstreamUnavailable(f"upstream {self.spec.name} {why}") from None

    def _backoff_left(self) -> float:
        if self.failures <= 1:
            return 0.0  # a first crash restarts at once, on the next call
        delay = min(BACKOFF_FIRST_S * 2 ** (self.failures - 2), BACKOFF_MAX_S)
        return self.last_failure + delay - time.monotonic()

    def _launch(self) -> asyncio.Future[Live]:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Live] = loop.create_future()
        self._stop = anyio.Event()
        self.starts += 1
        self._owner = loop.create_task(self._own(ready, self._stop))
        return ready

    async def _own(self, ready: asyncio.Future[Live], stop: anyio.Event) -> None:
        live: Live | None = None
        before = session_children() if self.spec.command else {}
        try:
            async with open_client(
                self.spec,
                getattr(self.services, "credentials", None),
                errlog=self._log(),
                message_handler=self._on_message,
                **self._relay_callbacks(),
            ) as client:
                info = client.server_info
                server = {"name": getattr(info, "name", None), "version": getattr(info, "version", None)}
                live = Live(client, server, {})
                if self.spec.command:
                    self._pgid = find_group(before, self.spec.command)
                await self._check_definitions(live)
                self.live = live
                ready.set_result(live)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(type(exc).__name__))
            if not isinstance(exc, Exception):
                raise
            log.debug("upstream %s ended: %r", self.spec.name, exc)
        finally:
            if self.live is live:  # a newer start (after a stop) keeps its own connection
                self.live = None

    async def _check_definitions(self, live: Live) -> None:
        listed = await list_all_tools(live.client)
        live.definitions = {t.name: tool_definition(t) for t in listed}
        pinned = self.pins.tools if self.pins is not None else {}
        live.withheld = {c.tool: c for c in compare(pinned, live.definitions) if c.kind != "added"}

    async def _on_message(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, types.ToolListChangedNotification):
            self._relist = True  # re-checked against the pins before the next call

    def _relay_callbacks(self) -> dict[str, Any]:
        """Callbacks for what ``relay`` lists (each one declares that capability to the upstream)."""
        out: dict[str, Any] = {}
        if "elicitation" in self.spec.relay:
            out["elicitation_callback"] = lambda _ctx, params: self._relay("elicitation", params)
        if "sampling" in self.spec.relay:
            out["sampling_callback"] = lambda _ctx, params: self._relay("sampling", params)
        return out

    async def _relay(self, kind: str, params: Any) -> Any:
        """Pass an upstream's request on to the client of the call it belongs to, or refuse it.

        On 2026-07-28 the SDK asks from inside ``call_tool`` (the call's own task: ``_CALL``); on a
        handshake connection the request arrives on the connection's reader, and belongs to the
        one call in flight. With several in flight there is no telling which, so it is refused."""
        ctx = _CALL.get()
        if ctx is None and len(self._calls) == 1:
            ctx = next(iter(self._calls.values()))
        if ctx is None:
            why = "no call in progress" if not self._calls else "several calls are in progress"
            return types.ErrorData(
                code=types.INVALID_REQUEST, message=f"tollhouse did not relay {kind}: {why}"
            )
        relay = getattr(ctx.call, "client_requests", None)
        if relay is None:
            why = f"the client of this call ({ctx.call.channel}) cannot be asked"
            ctx.facts.setdefault("client_requests", []).append({"request": kind, "relayed": False})
            return types.ErrorData(
                code=types.INVALID_REQUEST, message=f"tollhouse did not relay {kind}: {why}"
            )
        result = await relay.forward(ctx.call, self.spec.name, kind, params)
        relayed = not isinstance(result, types.ErrorData)
        ctx.facts.setdefault("client_requests", []).append({"request": kind, "relayed": relayed})
        return result

    def _log(self) -> Any:
        if self._errlog is None:
            self._errlog = _errlog(self.services, self.spec.name)
        return self._errlog

    def _failed(self, why: str) -> None:
        self.failures += 1
        self.last_failure = time.monotonic()
        self.last_error = why

    async def stop(self) -> None:
        """Close the connection (a stdio upstream: stdin closed, then its process group killed)."""
        owner, stop = self._owner, self._stop
        self.live = None
        self._ready = None
        if stop is not None:
            stop.set()
        if owner is not None:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(owner), timeout=10)
                if not owner.done():
                    owner.cancel()
        self._owner = None
        # Whatever the upstream started and left behind goes with it.
        kill_group(self._pgid)
        self._pgid = None

    async def aclose(self) -> None:
        await self.stop()
        if self._errlog is not None and self._errlog is not sys.stderr:
            self._errlog.close()
        self._errlog = None

    # -- calls --------------------------------------------------------------------------------------

    async def client_for(self, ctx: ToolContext) -> Client:
        """The connected client, for a resource or prompt request (recorded like a tool call)."""
        live = await self.ensure()
        ctx.record(upstream=self.spec.name, upstream_server=live.server)
        return live.client

    async def call(self, tool: str, arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        live = await self.ensure()
        change = live.withheld.get(tool)
        if change is not None:
            raise ToolError(withheld_message(self.spec.name, change))
        ctx.record(
            upstream=self.spec.name,
            upstream_tool=tool,
            upstream_server=live.server,
            tool_sha256=self._digest(tool),
        )

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.progress(done, total, message)

        deadline = anyio.current_effective_deadline()
        self._calls[ctx.call.call_id] = ctx
        token = _CALL.set(ctx)
        try:
            # The call's own limit starts now: a slow start is bounded by start_timeout_s instead.
            with anyio.fail_after(self.spec.timeout_s):
                result = await live.client.call_tool(tool, arguments, progress_callback=progress)
        except TimeoutError:
            await self._stuck(ctx)
            raise TimeoutError(
                f"upstream {self.spec.name} did not answer {tool} within {self.spec.timeout_s:g} s, so "
                "it was stopped with every process it started; the next call starts it again"
            ) from None
        except anyio.get_cancelled_exc_class():
            if anyio.current_time() >= deadline:  # the gate's own limit ran out: stuck as well
                await self._stuck(ctx)
            raise
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED or live.client is not self._client_now():
                await self._crashed(ctx)
            raise ToolError(
                f"upstream {self.spec.name} refused the call: {_capped(exc.error.message)}"
            ) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            await self._crashed(ctx)
        except Exception as exc:
            log.exception("upstream %s call failed", self.spec.name)
            raise ToolError(f"upstream {self.spec.name} call failed: {type(exc).__name__}") from None
        finally:
            _CALL.reset(token)
            self._calls.pop(ctx.call.call_id, None)
        self.failures = 0
        if result.is_error:
            texts = [b.text for b in result.content if isinstance(b, types.TextContent)]
            raise ToolError(
                f"upstream {self.spec.name} tool {tool} failed: " + _capped("\n".join(texts) or "no message")
            )
        return {
            "content": [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in result.content],
            "structuredContent": result.structured_content,
        }

    async def _stuck(self, ctx: ToolContext) -> None:
        ctx.record(upstream_stopped="timeout")
        self._failed("a call timed out")
        kill_group(self._pgid)  # stuck: no grace period, the whole group goes now
        with anyio.CancelScope(shield=True):
            await self.stop()

    def _digest(self, tool: str) -> str | None:
        """The pinned definition's sha256 (hashed once: it is in every receipt of this tool)."""
        if tool not in self._digests:
            pinned = self.pins.tools.get(tool) if self.pins is not None else None
            self._digests[tool] = definition_digest(pinned) if pinned else None
        return self._digests[tool]

    def _client_now(self) -> Client | None:
        return self.live.client if self.live is not None else None

    async def _crashed(self, ctx: ToolContext) -> None:
        ctx.record(upstream_stopped="crashed")
        self._failed("it closed the connection during a call")
        with anyio.CancelScope(shield=True):
            await self.stop()
        raise UpstreamUnavailable(
            f"upstream {self.spec.name} closed its connection during the call (its process exited "
            "or crashed); the call's effect is unknown. The next call starts it again."
        )


MESSAGE_MAX_CHARS = 8192
"""An upstream's error text is cut to this: a result is capped by limits.max_result_bytes, and an
error must not be the way around that cap."""


def _capped(text: str) -> str:
    if len(text) <= MESSAGE_MAX_CHARS:
        return text
    return text[:MESSAGE_MAX_CHARS] + f"… [{len(text) - MESSAGE_MAX_CHARS} more characters cut by tollhouse]"


def withheld_message(upstream: str, change: Change) -> str:
    if change.kind == "removed":
        return f"upstream {upstream} no longer offers tool {change.tool}; it was removed since it was trusted"
    what = ", ".join(change.fields) or "definition"
    return (
        f"upstream {upstream} changed tool {change.tool} ({what}) since it was trusted, so it is "
        f"withheld: an operator must review the change with `tollhouse upstream diff {upstream}` and run "
        f"`tollhouse upstream trust {upstream}` before it can be called"
    )


def _errlog(services: Any, name: str) -> Any:
    """An upstream's stderr goes to a log in the state folder (no tool reads it), not to the client."""
    config = getattr(services, "config", None)
    if config is None:
        return sys.stderr
    try:
        folder = config.state_dir / "upstreams"
        folder.mkdir(parents=True, exist_ok=True)
        return open(folder / f"{name}.log", "a", encoding="utf-8")
    except OSError:
        return sys.stderr
