"""Memory tools: search and read facts, propose new ones (the agent's path), write directly (gated).

``memory_propose`` leaves a proposal for a person to review (``tollhouse memory review``);
``memory_write`` stores an accepted fact at once, so the default policy asks or denies it.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tollhouse.state import memory, memory_query
from tollhouse.state.db import StateDB
from tollhouse.tools.base import Effect, Facets, Tool, ToolContext, ToolError, ToolInput

Status = Literal["proposed", "accepted", "rejected", "superseded"]


async def state_of(ctx: ToolContext) -> StateDB:
    """The state database from the gate's services (a StateDB, or a lazy opener of one)."""
    return await state_from(ctx.services)


async def state_from(services: Any) -> StateDB:
    state = getattr(services, "state", None)
    if callable(state) and not isinstance(state, StateDB):
        state = state()
    if inspect.isawaitable(state):
        state = await state
    if not isinstance(state, StateDB):
        raise ToolError("the state database is not available to this server; run `tollhouse init`")
    return state


def author_of(ctx: ToolContext) -> str:
    """``agent:<client>/<session>`` plus the operator it acts for: who wrote a fact, from the call."""
    call = ctx.call
    who = f"agent:{call.client or 'unknown'}"
    if call.session:
        who += f"/{call.session}"
    if call.operator:
        who += f" for {call.operator}"
    return who


class FactOut(BaseModel):
    id: int
    subject: str
    predicate: str
    object: str
    text: str
    tags: list[str]
    source: str | None
    author: str
    status: Status
    supersedes: int | None
    superseded_by: int | None
    reviewed_by: str | None
    review_note: str | None
    created_at: float
    updated_at: float


class SearchIn(ToolInput):
    """Search remembered facts (full text, best match first). Accepted facts only unless `status` says
    otherwise. Page with `offset` = the previous answer's `next_offset`."""

    query: str = Field("", max_length=1000, description="Words to find; empty lists newest facts first")
    subject: str | None = Field(None, max_length=memory.SUBJECT_MAX, description="Only this exact subject")
    predicate: str | None = Field(None, max_length=memory.PREDICATE_MAX)
    tags: list[str] = Field(
        default_factory=list, max_length=memory.TAGS_MAX, description="Facts having all tags"
    )
    source: str | None = Field(None, max_length=memory.SOURCE_MAX)
    status: list[Status] = Field(default_factory=lambda: ["accepted"], min_length=1)
    any_word: bool = Field(False, description="Match any word instead of all words")
    limit: int = Field(10, ge=1, le=memory_query.SEARCH_LIMIT_MAX)
    offset: int = Field(0, ge=0)


class SearchOut(BaseModel):
    facts: list[FactOut]
    next_offset: int | None = Field(description="Pass as offset for the next page; null when no more")


class GetIn(ToolInput):
    """Read one fact by id, with the facts it superseded or was superseded by (oldest first)."""

    id: int = Field(ge=1)


class GetOut(BaseModel):
    fact: FactOut
    history: list[FactOut]


class ProposeIn(ToolInput):
    """Propose a fact for a person to review (the normal way to remember something). Give an object
    for a claim (`service-x · owner · team-a`) or a text for an observation. To correct a fact, propose
    the new one with `supersedes` = its id."""

    subject: str = Field(min_length=1, max_length=memory.SUBJECT_MAX)
    predicate: str = Field(min_length=1, max_length=memory.PREDICATE_MAX)
    object: str = Field("", max_length=memory.OBJECT_MAX)
    text: str = Field("", max_length=memory.TEXT_MAX)
    tags: list[str] = Field(default_factory=list, max_length=memory.TAGS_MAX)
    source: str | None = Field(
        None,
        max_length=memory.SOURCE_MAX,
        description="receipt:N, file:PATH, a URL or case:ID (default: the call's case)",
    )
    supersedes: int | None = Field(None, ge=1, description="Id of the accepted fact this one replaces")

    # The gate's validation says what the store would refuse after policy and approval; the example
    # is what a skill shows (the schema alone cannot say "object or text").
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"subject": "service-x", "predicate": "owner", "object": "team-a"}]}
    )

    @model_validator(mode="after")
    def _object_or_text(self) -> ProposeIn:
        if not self.object.strip() and not self.text.strip():
            raise ValueError("a fact needs an object (a claim: service-x · owner · team-a) or a text")
        return self


# Policy sees the subject of the fact a call would supersede as a further value of `subject`
# (facet `args.subject`), so `args = {subject = "runbook:*"}` scopes what a write may retire as well
# as what it writes: a scoped rule cannot be used to retire any accepted fact.
UNKNOWN_SUBJECT = "(subject of fact #{id}: not looked up)"
MISSING_SUBJECT = "(no fact #{id})"


def superseded_facets(args: Any) -> Facets:
    """Without the gate's lookup (``policy explain``, say) the superseded subject is unknown: a
    placeholder no scoped allow rule matches, so the call is judged as out of scope."""
    if getattr(args, "supersedes", None) is None or getattr(args, "_looked_up", None) is not None:
        return {}
    return {"args.subject": [UNKNOWN_SUBJECT.format(id=args.supersedes)]}


async def lookup_superseded(args: Any, services: Any) -> Facets:
    if getattr(args, "supersedes", None) is None:
        return {}
    state = await state_from(services)
    old = await memory.get_fact(state, args.supersedes)
    subject = old.subject if old is not None else MISSING_SUBJECT.format(id=args.supersedes)
    return {"args.subject": [subject]}


def _out(fact: memory.Fact) -> FactOut:
    return FactOut(**fact.to_json())


async def _search(args: SearchIn, ctx: ToolContext) -> SearchOut:
    state = await state_of(ctx)
    try:
        page = await memory_query.search(
            state,
            args.query,
            statuses=args.status,
            subject=args.subject,
            predicate=args.predicate,
            tags=args.tags,
            source=args.source,
            any_word=args.any_word,
            limit=args.limit,
            offset=args.offset,
        )
    except memory.FactInputError as exc:
        raise ToolError(str(exc)) from exc
    ctx.record(results=len(page.facts))
    return SearchOut(facts=[_out(f) for f in page.facts], next_offset=page.next_offset)


async def _get(args: GetIn, ctx: ToolContext) -> GetOut:
    state = await state_of(ctx)
    chain = await memory.history(state, args.id)
    if not chain:
        raise ToolError(f"no fact #{args.id}; memory_search finds facts and their ids")
    fact = next(f for f in chain if f.id == args.id)
    return GetOut(fact=_out(fact), history=[_out(f) for f in chain])


async def _add(args: ProposeIn, ctx: ToolContext, status: str) -> FactOut:
    state = await state_of(ctx)
    source = args.source or (f"case:{ctx.call.case}" if ctx.call.case else None)
    try:
        fact = await memory.add_fact(
            state,
            subject=args.subject,
            predicate=args.predicate,
            object=args.object,
            text=args.text,
            tags=args.tags,
            source=source,
            author=author_of(ctx),
            status=status,
            supersedes=args.supersedes,
        )
    except memory.FactInputError as exc:
        raise ToolError(str(exc)) from exc
    ctx.record(fact_id=fact.id, fact_status=fact.status)
    looked_up = args._looked_up or {}
    if args.supersedes is not None and looked_up.get("args.subject"):
        # What policy judged, on the receipt: the retired fact's id and subject.
        ctx.record(supersedes=args.supersedes, superseded_subject=looked_up["args.subject"][0])
    return _out(fact)


async def _propose(args: ProposeIn, ctx: ToolContext) -> FactOut:
    return await _add(args, ctx, "proposed")


class WriteIn(ProposeIn):
    """Store an accepted fact directly, without review. Usually needs a person's approval; prefer
    memory_propose."""


async def _write(args: WriteIn, ctx: ToolContext) -> FactOut:
    return await _add(args, ctx, "accepted")


TOOLS: list[Tool] = [
    Tool(
        name="memory_search",
        title="Search memory",
        description=SearchIn.__doc__ or "",
        input_model=SearchIn,
        output_model=SearchOut,
        run=_search,
        effects=frozenset({Effect.READ}),
        family="memory",
        idempotent=True,
    ),
    Tool(
        name="memory_get",
        title="Read a fact",
        description=GetIn.__doc__ or "",
        input_model=GetIn,
        output_model=GetOut,
        run=_get,
        effects=frozenset({Effect.READ}),
        family="memory",
        idempotent=True,
    ),
    Tool(
        name="memory_propose",
        title="Propose a fact",
        description=ProposeIn.__doc__ or "",
        input_model=ProposeIn,
        output_model=FactOut,
        run=_propose,
        effects=frozenset({Effect.WRITE}),
        family="memory",
        facets_of=superseded_facets,
        lookup_facets=lookup_superseded,
    ),
    Tool(
        name="memory_write",
        title="Write an accepted fact",
        description=WriteIn.__doc__ or "",
        input_model=WriteIn,
        output_model=FactOut,
        run=_write,
        effects=frozenset({Effect.WRITE}),
        family="memory",
        facets_of=superseded_facets,
        lookup_facets=lookup_superseded,
    ),
]
