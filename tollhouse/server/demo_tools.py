"""A tiny tool family for `tollhouse demo`, the MCP tests and the MCP benchmark.

Not in ``FAMILIES``: a workspace opts in with ``[tools] modules = ["tollhouse.server.demo_tools"]``.
The tools are real (they read and write files in the workspace through ``Workspace.resolve``), so the
demo shows the gate doing real work; ``demo_wait`` exists to show progress and cancellation.
"""

from __future__ import annotations

import anyio
from pydantic import BaseModel, ConfigDict, Field

from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError
from tollhouse.workspace import PathError


class NoteWriteIn(BaseModel):
    """Write a short text note to a file in the workspace."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="File path inside the workspace, e.g. notes/todo.txt")
    text: str = Field(description="The note's text", max_length=10_000)


class NoteWriteOut(BaseModel):
    path: str
    bytes: int


class NoteReadIn(BaseModel):
    """Read a text note from a file in the workspace."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="File path inside the workspace")


class NoteReadOut(BaseModel):
    path: str
    text: str


class WaitIn(BaseModel):
    """Wait, reporting progress each step: a stand-in for a long tool."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=60, description="Total time to wait")
    steps: int = Field(default=4, ge=1, le=100, description="Progress notifications to send")


class NoopIn(BaseModel):
    """Do nothing and return ok (for latency measurements)."""

    model_config = ConfigDict(extra="forbid")


def _resolve(ctx: ToolContext, raw: str):  # type: ignore[no-untyped-def]
    try:
        return ctx.workspace.resolve(raw, ctx.roots)
    except PathError as exc:
        raise ToolError(f"{exc}; use a path inside the workspace") from exc


async def note_write(args: NoteWriteIn, ctx: ToolContext) -> NoteWriteOut:
    target = _resolve(ctx, args.path)
    data = args.text.encode("utf-8")
    await anyio.Path(target.abs.parent).mkdir(parents=True, exist_ok=True)
    await anyio.Path(target.abs).write_bytes(data)
    ctx.record(path=target.rel, bytes=len(data))
    return NoteWriteOut(path=target.rel, bytes=len(data))


async def note_read(args: NoteReadIn, ctx: ToolContext) -> NoteReadOut:
    target = _resolve(ctx, args.path)
    if not target.abs.is_file():
        raise ToolError(f"{args.path} is not a file; write it first with demo_note_write")
    text = (await anyio.Path(target.abs).read_bytes())[:100_000].decode("utf-8", "replace")
    ctx.record(path=target.rel, bytes=len(text))
    return NoteReadOut(path=target.rel, text=text)


async def wait(args: WaitIn, ctx: ToolContext) -> dict[str, float]:
    step = args.seconds / args.steps
    for i in range(args.steps):
        await anyio.sleep(step)
        await ctx.progress(i + 1, args.steps, f"step {i + 1} of {args.steps}")
    return {"waited_s": args.seconds}


async def noop(args: NoopIn, ctx: ToolContext) -> str:
    return "ok"


TOOLS = [
    Tool(
        name="demo_note_write",
        title="Write a note",
        description="Write a short text note to a file in the workspace (creates folders as needed).",
        input_model=NoteWriteIn,
        output_model=NoteWriteOut,
        run=note_write,
        effects=frozenset({Effect.WRITE}),
        family="demo",
        path_fields=("path",),
        idempotent=True,
        destructive=True,
    ),
    Tool(
        name="demo_note_read",
        title="Read a note",
        description="Read a text note from a file in the workspace.",
        input_model=NoteReadIn,
        output_model=NoteReadOut,
        run=note_read,
        effects=frozenset({Effect.READ}),
        family="demo",
        path_fields=("path",),
        idempotent=True,
    ),
    Tool(
        name="demo_wait",
        title="Wait with progress",
        description="Wait for some seconds, reporting progress; shows progress and cancellation.",
        input_model=WaitIn,
        run=wait,
        effects=frozenset({Effect.READ}),
        family="demo",
        idempotent=True,
    ),
    Tool(
        name="demo_noop",
        title="Do nothing",
        description="Return ok without doing anything.",
        input_model=NoopIn,
        run=noop,
        effects=frozenset({Effect.READ}),
        family="demo",
        idempotent=True,
    ),
]
