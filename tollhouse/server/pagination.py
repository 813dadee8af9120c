"""Pagination cursors: every list this server answers fits in one page, so it never hands out a
``nextCursor``; a request naming a cursor therefore names one this server did not issue, and the
spec's answer to an invalid cursor is -32602 (Invalid params), not the first page again."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

PAGINATED = frozenset({"tools/list", "resources/list", "resources/templates/list", "prompts/list"})


async def refuse_unknown_cursors(ctx: Any, call_next: Any) -> Any:
    """Server middleware (both eras, every transport)."""
    if ctx.method in PAGINATED:
        params = ctx.params
        cursor = params.get("cursor") if isinstance(params, dict) else getattr(params, "cursor", None)
        if cursor is not None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Invalid params: unknown pagination cursor {str(cursor)[:64]!r} "
                "(this server lists everything in one page; omit the cursor)",
            )
    return await call_next(ctx)
