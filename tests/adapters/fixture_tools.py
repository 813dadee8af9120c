"""Tools for the adapter tests: an echo with an optional field and a name Gemini must rename, a tool
that fails, a slow one (to see parallel calls overlap), and one no rule allows."""

from __future__ import annotations

import anyio
from pydantic import BaseModel, ConfigDict, Field

from tollhouse.tools.base import Effect, Tool, ToolError


class EchoIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    text: str = Field(description="text to echo")
    times: int = Field(1, ge=1, le=10, description="how many times")
    tag: str | None = Field(None, alias="tag-name", description="an optional label")


class SlowIn(BaseModel):
    seconds: float = Field(ge=0, le=5)


async def _echo(args: EchoIn, ctx) -> dict:
    return {"text": args.text * args.times, "tag": args.tag}


async def _fail(args: EchoIn, ctx) -> dict:
    raise ToolError(f"cannot echo {args.text!r}; send a shorter text")


async def _slow(args: SlowIn, ctx) -> dict:
    await anyio.sleep(args.seconds)
    return {"slept": args.seconds}


TOOLS = [
    Tool(
        "ad_echo",
        "Echo text",
        "Echo the text back, repeated. Use to test the adapters.",
        EchoIn,
        _echo,
        frozenset({Effect.READ}),
        "adtest",
    ),
    Tool(
        "ad_fail",
        "Always fail",
        "Fail with a readable message.",
        EchoIn,
        _fail,
        frozenset({Effect.READ}),
        "adtest",
    ),
    Tool(
        "ad_slow",
        "Sleep",
        "Sleep for a while, then answer.",
        SlowIn,
        _slow,
        frozenset({Effect.READ}),
        "adtest",
    ),
    Tool(
        "ad_hidden", "Hidden", "No rule allows this tool.", SlowIn, _slow, frozenset({Effect.WRITE}), "adtest"
    ),
]
