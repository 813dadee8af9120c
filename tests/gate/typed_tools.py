"""Tools with typed arguments, aliases and nested models: what strict validation must get right."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tollhouse.tools.base import Effect, Tool, ToolInput


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Inner(BaseModel):
    depth: int
    on: bool = False


class TypedIn(ToolInput):
    count: int = 1
    flag: bool = False
    ratio: float = 0.5
    colour: Colour = Colour.red
    mode: Literal["fast", "slow"] = "fast"
    names: list[str] = []
    pair: tuple[int, int] = (0, 0)
    inner: Inner | None = None
    label: str | None = None


class AliasIn(ToolInput):
    model_config = ConfigDict(populate_by_name=False)
    from_: str = Field(alias="from")
    user_id: int = Field(0, alias="user-id")


class AliasOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    class_: str = Field(alias="class")


async def _typed(args: TypedIn, ctx) -> dict:
    return args.model_dump(mode="json")


async def _alias(args: AliasIn, ctx) -> AliasOut:
    return AliasOut(class_=args.from_)


TOOLS = [
    Tool(
        name="ty_typed",
        title="Typed",
        description="typed arguments",
        input_model=TypedIn,
        run=_typed,
        effects=frozenset({Effect.READ}),
        family="typed",
    ),
    Tool(
        name="ty_alias",
        title="Alias",
        description="aliased arguments",
        input_model=AliasIn,
        output_model=AliasOut,
        run=_alias,
        effects=frozenset({Effect.READ}),
        family="typed",
    ),
    Tool(
        name="ty_never",
        title="Never",
        description="no rule allows it",
        input_model=TypedIn,
        run=_typed,
        effects=frozenset({Effect.READ}),
        family="typed",
    ),
]
