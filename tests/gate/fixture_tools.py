"""Tools for exercising the gate itself: each one isolates one behaviour of the gate."""

from __future__ import annotations

import os

import anyio
from pydantic import BaseModel, Field

from tollhouse.tools.base import Effect, PolicyDenied, Tool, ToolError

CANARY = "canary-" + "Zq9xW3vT7pL2"  # a secret the tests plant and then look for


class Empty(BaseModel):
    pass


class EchoIn(BaseModel):
    text: str = Field(description="text to echo")
    times: int = Field(1, ge=1, le=10)


class EchoOut(BaseModel):
    text: str


class NoteIn(BaseModel):
    path: str
    content: str = ""


class SleepIn(BaseModel):
    seconds: float


async def _noop(args: Empty, ctx) -> dict:
    return {"ok": True}


async def _echo(args: EchoIn, ctx) -> EchoOut:
    return EchoOut(text=args.text * args.times)


async def _note(args: NoteIn, ctx) -> dict:
    target = ctx.workspace.resolve(args.path, ctx.roots).abs
    target.write_text(args.content)
    ctx.record(path=args.path, bytes=len(args.content.encode()))
    return {"written": args.path}


async def _sleep(args: SleepIn, ctx) -> dict:
    marker = ctx.workspace.root / "sleep-finished"
    await ctx.progress(0, args.seconds, "sleeping")
    if args.seconds == 0.02:  # a tool that streams a secret it came across
        await ctx.progress(1, 1, f"found token={CANARY} in the log")
    await anyio.sleep(args.seconds)
    marker.write_text("done")
    return {"slept": args.seconds}


async def _fail(args: EchoIn, ctx) -> dict:
    raise ToolError(f"cannot do that with {args.text}")


async def _crash(args: Empty, ctx) -> dict:
    raise RuntimeError(f"internal detail {CANARY}")


async def _leak(args: Empty, ctx) -> dict:
    return {"env": os.environ.get("TOLLHOUSE_TEST_CANARY", ""), "literal": f"token={CANARY}"}


async def _guarded(args: Empty, ctx) -> dict:
    raise PolicyDenied("fixture.guard", "the tool's own guard refused this call")


async def _big(args: SleepIn, ctx) -> dict:
    return {"blob": "x" * int(args.seconds)}


R, W = frozenset({Effect.READ}), frozenset({Effect.WRITE})
TOOLS = [
    Tool("fx_noop", "No-op", "Does nothing.", Empty, _noop, R, "fixture"),
    Tool("fx_echo", "Echo", "Echoes text.", EchoIn, _echo, R, "fixture", output_model=EchoOut),
    Tool("fx_note", "Write note", "Writes a file.", NoteIn, _note, W, "fixture", path_fields=("path",)),
    Tool("fx_sleep", "Sleep", "Sleeps.", SleepIn, _sleep, W, "fixture", timeout_s=None),
    Tool("fx_fail", "Fail", "Always a tool error.", EchoIn, _fail, R, "fixture"),
    Tool("fx_crash", "Crash", "Raises an unexpected exception.", Empty, _crash, R, "fixture"),
    Tool("fx_leak", "Leak", "Returns secrets.", Empty, _leak, R, "fixture"),
    Tool("fx_guarded", "Guarded", "Denies itself.", Empty, _guarded, R, "fixture"),
    Tool("fx_big", "Big", "Returns N bytes.", SleepIn, _big, R, "fixture"),
]
