"""The [files] settings of tollhouse.toml: limits an operator may tune."""

from __future__ import annotations

from typing import Any

from tollhouse.tools.base import ToolContext, ToolError


def hash_max_bytes(ctx: ToolContext, default: int) -> int:
    """``[files] hash_max_bytes``: the largest file whose sha256 files_move/files_delete record
    (``default`` when unset). A bad value is a clear error before anything is touched."""
    config: Any = getattr(ctx.services, "config", None)
    raw = config.section("files") if config is not None and hasattr(config, "section") else {}
    value = raw.get("hash_max_bytes", default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ToolError(
            f"invalid [files] settings in tollhouse.toml: files.hash_max_bytes must be a whole number "
            f"of bytes >= 0, not {value!r}; see docs/tools/files.md"
        )
    return value
