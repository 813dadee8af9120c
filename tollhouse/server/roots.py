"""The roots an MCP client announces: asked once per session, cached, and used only to narrow.

A client that declares the ``roots`` capability (VS Code, Claude Code, ...) tells the server which
folders the user is working in. tollhouse passes them to the gate as ``Call.client_roots``; the
workspace intersects them with the operator's roots (``Workspace.effective_roots``), so a client's
roots can narrow what a call may touch and can never widen it.

What we ask and when:

* Handshake era (<= 2025-11-25), where the server may send requests: ``roots/list`` on the first
  call of a session, then the answer is cached for that session until the client sends
  ``notifications/roots/list_changed``. Per call that costs one dictionary lookup.
* 2026-07-28: roots are deprecated, and the only way to ask is an ``input_required`` round trip
  added to every ``tools/call`` (there is no session to cache in). We do not ask; the operator's
  roots apply. Connections without a back-channel (stateless HTTP) are the same.
* A client that declares no roots capability, or announces an empty list: the operator's roots.
* Roots that are not ``file://`` URIs name nothing on this disk and are dropped; if *every*
  announced root is like that, the call gets no roots at all (every path is outside them).
* A client that fails to answer ``roots/list`` within ``LIST_TIMEOUT_S``: the operator's roots for
  that call (logged, not cached, asked again next call). The operator's roots are the boundary;
  client roots are the user's narrowing on top of it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

log = logging.getLogger("tollhouse.server")

LIST_TIMEOUT_S = 5.0
MAX_SESSIONS = 1024
"""Sessions whose roots are kept; the least recently used are forgotten (and asked again)."""


def root_paths(uris: list[str]) -> tuple[str, ...] | None:
    """Announced root URIs as absolute paths; None (no narrowing) for an empty announcement."""
    if not uris:
        return None
    paths: list[str] = []
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            continue
        path = unquote(parts.path)
        if path.startswith("/") and "\x00" not in path:
            paths.append(path)
    return tuple(paths)


class ClientRoots:
    """Per-session cache of client roots for one MCP face."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._cache: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()
        self._generation: dict[str, int] = {}
        self._max = max_sessions

    def invalidate(self, session: str) -> None:
        """``notifications/roots/list_changed``: ask again on the session's next call."""
        self._cache.pop(session, None)
        self._generation[session] = self._generation.get(session, 0) + 1

    async def for_call(self, ctx: Any, session: str) -> tuple[str, ...] | None:
        """The client's roots for a call in ``session`` (None: the operator's roots apply)."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        capabilities = ctx.session.client_capabilities
        if capabilities is None or capabilities.roots is None or not ctx.session.can_send_request:
            return None
        if session in self._cache:
            self._cache.move_to_end(session)
            return self._cache[session]
        generation = self._generation.get(session, 0)
        uris = await self._ask(ctx)
        if uris is None:
            return None
        roots = root_paths(uris)
        # A list_changed that arrived while we were asking makes this answer stale: use it for this
        # call (it is what the client said a moment ago) but do not keep it.
        if self._generation.get(session, 0) == generation:
            self._cache[session] = roots
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return roots

    async def _ask(self, ctx: Any) -> list[str] | None:
        from mcp.shared.message import ServerMessageMetadata

        try:
            with anyio.fail_after(LIST_TIMEOUT_S):
                # Related to the tools/call, as an approval is: over HTTP it rides that request's stream.
                result = await ctx.session.send_request(
                    types.ListRootsRequest(),
                    types.ListRootsResult,
                    metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
                )
        except Exception as exc:
            log.warning("client did not answer roots/list (%s); using the operator's roots", exc)
            return None
        return [str(root.uri) for root in result.roots]
