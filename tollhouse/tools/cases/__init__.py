"""Case tools: open a case, list cases, add a note, write a handoff.

Every tool that takes ``case_id`` falls back to the call's case (``Call.case``: a face fills it from
an argument or the ``tollhouse/case`` request metadata).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tollhouse.state import cases
from tollhouse.state.memory import FactInputError
from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError, ToolInput
from tollhouse.tools.memory import author_of, state_of

CaseStatus = Literal["open", "blocked", "done"]
CaseIdField = Field(None, max_length=64, description="Case id; defaults to the call's case")


class CaseOut(BaseModel):
    id: str
    title: str
    goal: str
    status: CaseStatus
    tags: list[str]
    created_by: str
    created_at: float
    updated_at: float
    uri: str


def _case_out(case: cases.Case) -> CaseOut:
    return CaseOut(**case.to_json(), uri=f"case://{case.id}")


def _case_id(given: str | None, ctx: ToolContext) -> str:
    case_id = given or ctx.call.case
    if not case_id:
        raise ToolError("no case named: pass case_id, or open one with case_open")
    try:
        return cases.check_case_id(case_id)
    except cases.CaseInputError as exc:
        raise ToolError(str(exc)) from exc


class OpenIn(ToolInput):
    """Open a case: a piece of work with a goal that outlives this session. Opening an existing id
    returns it unchanged (use that to resume); read its case file at case://{id}."""

    title: str = Field(min_length=1, max_length=cases.TITLE_MAX)
    goal: str = Field("", max_length=cases.GOAL_MAX, description="What done looks like")
    id: str | None = Field(
        None, max_length=64, description="Wanted id (letters, digits, - _); default from the title"
    )
    tags: list[str] = Field(default_factory=list, max_length=16)


class OpenOut(BaseModel):
    case: CaseOut
    created: bool


async def _open(args: OpenIn, ctx: ToolContext) -> OpenOut:
    state = await state_of(ctx)
    try:
        case, created = await cases.open_case(
            state, title=args.title, goal=args.goal, case_id=args.id, tags=args.tags, author=author_of(ctx)
        )
    except FactInputError as exc:
        raise ToolError(str(exc)) from exc
    ctx.record(case_id=case.id, created=created)
    return OpenOut(case=_case_out(case), created=created)


class ListIn(ToolInput):
    """List cases, most recently changed first."""

    status: CaseStatus | None = None
    tag: str | None = Field(None, max_length=64)
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)


class ListOut(BaseModel):
    cases: list[CaseOut]


async def _list(args: ListIn, ctx: ToolContext) -> ListOut:
    state = await state_of(ctx)
    try:
        rows = await cases.list_cases(
            state, status=args.status, tag=args.tag, limit=args.limit, offset=args.offset
        )
    except FactInputError as exc:
        raise ToolError(str(exc)) from exc
    return ListOut(cases=[_case_out(c) for c in rows])


class NoteIn(ToolInput):
    """Add a short note to a case (a finding, a decision, a link). Notes show in the case file."""

    case_id: str | None = CaseIdField
    text: str = Field(min_length=1, max_length=cases.NOTE_MAX)


class NoteOut(BaseModel):
    case_id: str
    note_id: int


async def _note(args: NoteIn, ctx: ToolContext) -> NoteOut:
    state = await state_of(ctx)
    case_id = _case_id(args.case_id, ctx)
    try:
        note_id = await cases.add_note(state, case_id, args.text, author=author_of(ctx))
    except FactInputError as exc:
        raise ToolError(str(exc)) from exc
    ctx.record(case_id=case_id, note_id=note_id)
    return NoteOut(case_id=case_id, note_id=note_id)


class HandoffIn(ToolInput):
    """Write a handoff for whoever continues this case: when you finish (kind done), get blocked
    (blocked, with blockers), fail (failed), or stop partway (progress). Say what was done, what comes
    next, and what blocks it."""

    case_id: str | None = CaseIdField
    kind: Literal["progress", "done", "blocked", "failed"]
    summary: str = Field(min_length=1, max_length=cases.SUMMARY_MAX)
    done: list[str] = Field(default_factory=list, max_length=cases.ITEMS_MAX)
    next_steps: list[str] = Field(default_factory=list, max_length=cases.ITEMS_MAX)
    blockers: list[str] = Field(default_factory=list, max_length=cases.ITEMS_MAX)
    status: CaseStatus | None = Field(
        None, description="Case status after this handoff; default: done->done, blocked->blocked, else open"
    )


class HandoffOut(BaseModel):
    case_id: str
    handoff_id: int
    status: CaseStatus


async def _handoff(args: HandoffIn, ctx: ToolContext) -> HandoffOut:
    state = await state_of(ctx)
    case_id = _case_id(args.case_id, ctx)
    try:
        h = await cases.write_handoff(
            state,
            case_id,
            kind=args.kind,
            summary=args.summary,
            author=author_of(ctx),
            done=args.done,
            next_steps=args.next_steps,
            blockers=args.blockers,
            status=args.status,
            session=ctx.call.session,
        )
    except FactInputError as exc:
        raise ToolError(str(exc)) from exc
    ctx.record(case_id=case_id, handoff_id=h.id, kind=h.kind)
    return HandoffOut(case_id=case_id, handoff_id=h.id, status=h.status_after)  # type: ignore[arg-type]


class UseIn(ToolInput):
    """Work on a case for the rest of this session: every later call is filed under it (its
    receipts carry the case id and the case file lists them), as if each call named it. For clients
    that cannot attach _meta. The case must exist (case_open first); pass clear=true to stop."""

    case_id: str | None = CaseIdField
    clear: bool = Field(False, description="Stop filing calls under a case")


class UseOut(BaseModel):
    case: CaseOut | None
    session: str | None


async def _use(args: UseIn, ctx: ToolContext) -> UseOut:
    from tollhouse.tools.cases.session import set_session_case

    if args.clear:
        set_session_case(ctx.services, ctx.call.session, None)
        ctx.record(cleared=True)
        return UseOut(case=None, session=ctx.call.session)
    state = await state_of(ctx)
    case_id = _case_id(args.case_id, ctx)
    try:
        case = await cases.require_case(state, case_id)
    except FactInputError as exc:
        raise ToolError(str(exc)) from exc
    set_session_case(ctx.services, ctx.call.session, case.id)
    ctx.record(case_id=case.id)
    return UseOut(case=_case_out(case), session=ctx.call.session)


TOOLS: list[Tool] = [
    Tool(
        name="case_open",
        title="Open a case",
        description=OpenIn.__doc__ or "",
        input_model=OpenIn,
        output_model=OpenOut,
        run=_open,
        effects=frozenset({Effect.WRITE}),
        family="cases",
        idempotent=True,
    ),
    Tool(
        name="case_list",
        title="List cases",
        description=ListIn.__doc__ or "",
        input_model=ListIn,
        output_model=ListOut,
        run=_list,
        effects=frozenset({Effect.READ}),
        family="cases",
        idempotent=True,
    ),
    Tool(
        name="case_use",
        title="Work on a case for this session",
        description=UseIn.__doc__ or "",
        input_model=UseIn,
        output_model=UseOut,
        run=_use,
        effects=frozenset({Effect.READ}),
        family="cases",
        idempotent=True,
    ),
    Tool(
        name="case_note",
        title="Add a case note",
        description=NoteIn.__doc__ or "",
        input_model=NoteIn,
        output_model=NoteOut,
        run=_note,
        effects=frozenset({Effect.WRITE}),
        family="cases",
    ),
    Tool(
        name="case_handoff",
        title="Write a handoff",
        description=HandoffIn.__doc__ or "",
        input_model=HandoffIn,
        output_model=HandoffOut,
        run=_handoff,
        effects=frozenset({Effect.WRITE}),
        family="cases",
    ),
]
