"""Cheap tools for building a recorded history: one reads a path, one writes a path (intent +
outcome receipts), one runs nothing but takes a repository name."""

from __future__ import annotations

from tollhouse.tools.base import Effect, Tool, ToolInput


class PathIn(ToolInput):
    path: str
    note: str = ""


class RepoIn(ToolInput):
    repo: str
    count: int = 1


async def _ok(args, ctx) -> dict:
    return {"ok": True}


READ, WRITE = frozenset({Effect.READ}), frozenset({Effect.WRITE})
PATH = ("path",)

TOOLS = [
    Tool(name="rp_read", title="Read", description="read a path", input_model=PathIn, run=_ok,
         path_fields=PATH, effects=READ, family="replay"),
    Tool(name="rp_write", title="Write", description="write a path", input_model=PathIn, run=_ok,
         path_fields=PATH, effects=WRITE, family="replay"),
    Tool(name="rp_repo", title="Repo", description="touch a repo", input_model=RepoIn, run=_ok,
         facets_of=lambda a: {"repos": [a.repo]}, effects=READ, family="replay"),
]  # fmt: skip
