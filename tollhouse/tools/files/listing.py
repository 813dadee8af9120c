"""files_list and files_find: bounded views of the tree."""

from __future__ import annotations

import threading

import anyio
from pydantic import BaseModel, ConfigDict, Field

from tollhouse.globs import GlobError, compile_path_glob
from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError
from tollhouse.tools.files import confine
from tollhouse.tools.files.walk import Walker, depth_note

FAMILY = "files"
MAX_SCAN = 200_000
"""Most directory entries one list/find/search call looks at."""
MAX_LIMIT = 5000


class ListInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(".", description="Directory relative to the workspace root.")
    depth: int = Field(2, ge=1, le=50, description="How many levels to descend (1 = direct children).")
    gitignore: bool = Field(True, description="Skip what .gitignore files ignore (and .git).")
    offset: int = Field(0, ge=0, description="Entries to skip (use next_offset to continue).")
    limit: int = Field(500, ge=1, le=MAX_LIMIT, description="Most entries to return.")


class ListEntry(BaseModel):
    path: str
    type: str
    size: int | None = Field(None, description="Bytes, for files.")


WITHHELD = Field(0, description="Entries policy withheld (secrets, state): not shown, opened or searched.")
WITHHELD_NOTE = Field(None, description="Which rules withheld entries, when any were withheld.")


class ListOutput(BaseModel):
    path: str
    entries: list[ListEntry]
    truncated: bool
    next_offset: int | None = None
    scan_capped: bool = Field(False, description="The walk stopped at the scan cap; narrow the path.")
    withheld: int = WITHHELD
    withheld_note: str | None = WITHHELD_NOTE
    hint: str | None = None


def _collect(walker: Walker, keep, offset: int, limit: int) -> tuple[list[ListEntry], bool]:  # type: ignore[no-untyped-def]
    out: list[ListEntry] = []
    seen = 0
    more = False
    for entry in walker:
        if not keep(entry):
            continue
        if seen < offset:
            seen += 1
            continue
        if len(out) >= limit:
            more = True
            break
        out.append(
            ListEntry(path=entry.rel, type=entry.kind, size=entry.size if entry.kind == "file" else None)
        )
        seen += 1
    return out, more


def _hint(more: bool, next_offset: int, capped: bool, tool: str) -> str | None:
    if more:
        return f"More entries follow; call {tool} again with offset={next_offset}."
    if capped:
        return f"The walk stopped after {MAX_SCAN} entries; pass a narrower path."
    return None


def _list(ctx: ToolContext, args: ListInput, cancel: threading.Event) -> ListOutput:
    target = confine.resolve(ctx, args.path, judge=True)
    walker = Walker(
        target,
        max_depth=args.depth,
        gitignore=args.gitignore,
        max_scan=MAX_SCAN,
        cancel=cancel,
        judge=ctx.judge,
    )
    try:
        entries, more = _collect(walker, lambda e: True, args.offset, args.limit)
    except OSError as exc:
        raise confine.os_error(exc, target.rel) from None
    nxt = args.offset + len(entries)
    return ListOutput(
        path=target.rel,
        entries=entries,
        truncated=more,
        next_offset=nxt if more else None,
        scan_capped=walker.stats.capped,
        withheld=ctx.judge.count,
        withheld_note=ctx.judge.note(),
        hint=_hint(more, nxt, walker.stats.capped, "files_list") or depth_note(walker.stats),
    )


async def run_in_thread(fn, ctx: ToolContext, args: BaseModel):  # type: ignore[no-untyped-def]
    """Run a read-only walking tool in a worker thread. On cancellation (the gate's timeout, the
    client's cancel) the call answers at once instead of waiting for the thread, and the walk is told
    to stop: it checks between entries, files and lines, so it ends within one step (for
    files_search, at most one match attempt of MATCH_TIMEOUT_S). Only read-only tools run here, so an
    abandoned thread cannot change anything after its call has ended."""
    cancel = threading.Event()
    try:
        return await anyio.to_thread.run_sync(fn, ctx, args, cancel, abandon_on_cancel=True)
    finally:
        cancel.set()


async def _list_run(args: ListInput, ctx: ToolContext) -> ListOutput:
    return await run_in_thread(_list, ctx, args)


class FindInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pattern: str = Field(
        min_length=1,
        description="Glob on paths below `path`: `*.py` (no slash) matches names at any depth; "
        "`src/**/test_*.py` matches paths; `**` spans directories.",
    )
    path: str = Field(".", description="Directory to search in, relative to the workspace root.")
    gitignore: bool = Field(True, description="Skip what .gitignore files ignore (and .git).")
    offset: int = Field(0, ge=0, description="Matches to skip (use next_offset to continue).")
    limit: int = Field(500, ge=1, le=MAX_LIMIT, description="Most matches to return.")


class FindOutput(BaseModel):
    matches: list[ListEntry]
    truncated: bool
    next_offset: int | None = None
    scan_capped: bool = False
    withheld: int = WITHHELD
    withheld_note: str | None = WITHHELD_NOTE
    hint: str | None = None


def path_matcher(pattern: str, base: str):  # type: ignore[no-untyped-def]
    """A predicate over root-relative paths for a glob given relative to ``base``."""
    if "\x00" in pattern:
        raise ToolError("pattern contains a NUL byte")
    by_name = "/" not in pattern.strip("/")
    try:
        regex = compile_path_glob(pattern)
    except GlobError as exc:
        raise ToolError(f"pattern {pattern[:100]!r} is not a usable glob: {exc}") from None
    prefix = "" if base in ("", ".") else base + "/"

    def match(rel: str, name: str) -> bool:
        if by_name:
            return bool(regex.match(name))
        return bool(regex.match(rel[len(prefix) :]))

    return match


def _find(ctx: ToolContext, args: FindInput, cancel: threading.Event) -> FindOutput:
    target = confine.resolve(ctx, args.path, judge=True)
    match = path_matcher(args.pattern, target.rel)
    walker = Walker(
        target, max_depth=None, gitignore=args.gitignore, max_scan=MAX_SCAN, cancel=cancel, judge=ctx.judge
    )
    try:
        entries, more = _collect(walker, lambda e: match(e.rel, e.name), args.offset, args.limit)
    except OSError as exc:
        raise confine.os_error(exc, target.rel) from None
    nxt = args.offset + len(entries)
    return FindOutput(
        matches=entries,
        truncated=more,
        next_offset=nxt if more else None,
        scan_capped=walker.stats.capped,
        withheld=ctx.judge.count,
        withheld_note=ctx.judge.note(),
        hint=_hint(more, nxt, walker.stats.capped, "files_find") or depth_note(walker.stats),
    )


async def _find_run(args: FindInput, ctx: ToolContext) -> FindOutput:
    return await run_in_thread(_find, ctx, args)


LISTING_TOOLS = [
    Tool(
        name="files_list",
        title="List a directory",
        description=(
            "List a workspace directory as a tree (pre-order, sorted), `depth` levels deep (default 2), "
            "with sizes of files. Honours .gitignore by default. Returns at most `limit` entries (default "
            "500); when more exist, call again with offset=next_offset. Symlinks are listed, never "
            "entered. At most 200,000 entries are scanned per call."
        ),
        input_model=ListInput,
        output_model=ListOutput,
        run=_list_run,
        effects=frozenset({Effect.READ}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
    ),
    Tool(
        name="files_find",
        title="Find files by glob",
        description=(
            "Find files and directories whose paths match a glob, below `path` (default: the workspace "
            "root). A pattern without a slash matches names at any depth (`*.md`); with a slash it matches "
            "the path (`docs/**/*.md`). Honours .gitignore by default. Returns at most `limit` matches "
            "(default 500); continue with offset=next_offset. Searches names only; use files_search for "
            "contents."
        ),
        input_model=FindInput,
        output_model=FindOutput,
        run=_find_run,
        effects=frozenset({Effect.READ}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
    ),
]
