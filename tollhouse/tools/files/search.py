"""files_search: a regular expression or literal over file *contents*, bounded in every direction."""

from __future__ import annotations

import os
import threading

import regex
from pydantic import BaseModel, ConfigDict, Field

from tollhouse.gate.redact import Redactor
from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError
from tollhouse.tools.files import confine, textio
from tollhouse.tools.files.listing import MAX_SCAN, WITHHELD, WITHHELD_NOTE, path_matcher, run_in_thread
from tollhouse.tools.files.walk import Walker, depth_note

FAMILY = "files"
MAX_FILE_BYTES = 4 * 1024 * 1024
"""Files larger than this are skipped (counted in files_skipped_large)."""
MAX_OUTPUT_BYTES = 128 * 1024
MAX_LINE_CHARS = 500
MATCH_TIMEOUT_S = 1.0
"""Longest one match attempt (a file or a line) may run. Python's ``re`` backtracks without bound, so
``(a|aa)+$`` on a long line would burn a CPU until the process ends, long after the gate's timeout
has answered the call (a thread cannot be killed). The ``regex`` module takes the same syntax, defuses
many such patterns outright, and stops any attempt at this limit; the call then fails with an error
naming the file and line. The worker also stops between attempts once the call is cancelled, so no
search outlives its call by more than one attempt."""


class SearchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pattern: str = Field(
        min_length=1, description="Python regular expression (or literal text with literal=true)."
    )
    path: str = Field(".", description="Directory (or file) to search, relative to the workspace root.")
    glob: str | None = Field(None, description="Only files matching this glob, e.g. `*.py` or `src/**/*.ts`.")
    literal: bool = Field(False, description="Treat pattern as plain text, not a regular expression.")
    ignore_case: bool = False
    context: int = Field(0, ge=0, le=10, description="Lines of context before and after each match.")
    gitignore: bool = Field(True, description="Skip what .gitignore files ignore (and .git).")
    offset: int = Field(0, ge=0, description="Matches to skip (use next_offset to continue).")
    limit: int = Field(200, ge=1, le=2000, description="Most matches to return.")


class SearchMatch(BaseModel):
    path: str
    line: int = Field(description="1-based line number.")
    text: str = Field(description="The matching line (cut at 500 characters).")
    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)


class SearchOutput(BaseModel):
    matches: list[SearchMatch]
    files_scanned: int
    files_skipped_binary: int = Field(0, description="Binary or non-UTF-8 files, not searched.")
    files_skipped_large: int = Field(0, description="Files over 4 MiB, not searched.")
    truncated: bool
    next_offset: int | None = None
    scan_capped: bool = False
    withheld: int = WITHHELD
    withheld_note: str | None = WITHHELD_NOTE
    hint: str | None = None


def _cut(line: str, redactor: Redactor | None) -> str:
    """The line, at most MAX_LINE_CHARS: never cut inside a secret (the gate replaces whole ones)."""
    line = line.rstrip("\r")
    if len(line) <= MAX_LINE_CHARS:
        return line
    at = MAX_LINE_CHARS if redactor is None else redactor.clear_cut(line, MAX_LINE_CHARS)
    return line[:at] + "…"


class _Search:
    def __init__(
        self, args: SearchInput, pattern: regex.Pattern[str], cancel: threading.Event, ctx: ToolContext, root
    ) -> None:  # type: ignore[no-untyped-def]
        self.judge = ctx.judge
        self.root = root
        self.args = args
        self.pattern = pattern
        self.cancel = cancel
        self.redactor: Redactor | None = None
        self.matches: list[SearchMatch] = []
        self.skipped = 0  # matches passed over because of offset
        self.used = 0
        self.full = False
        self.scanned = 0
        self.binary = 0
        self.large = 0

    def file(self, dir_fd: int, name: str, rel: str) -> None:
        try:
            fd, st = confine.open_regular_at(dir_fd, name, rel)
        except ToolError:
            return  # swapped or vanished mid-walk: skipped, never followed
        try:
            if st.st_nlink > 1 and self.judge.withhold(self.root, rel, st):
                return  # a second name of a state file (hard link): judged on the open inode
            if st.st_size > MAX_FILE_BYTES:
                self.large += 1
                return
            data = confine.read_all(fd, MAX_FILE_BYTES)
        finally:
            os.close(fd)
        self.scanned += 1
        if data.startswith(textio.BOM):
            data = data[len(textio.BOM) :]
        if textio.looks_binary(data):
            self.binary += 1
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.binary += 1
            return
        if not self._hit(text, rel, None):
            return
        if self.redactor is not None:
            # Search what a read would show: a pattern probing a secret's characters finds nothing,
            # so match counts cannot spell one out. Line numbers are kept (redact_lines).
            text = self.redactor.redact_lines(text)
            if not self._hit(text, rel, None):
                return
        lines = text.split("\n")
        ctx = self.args.context
        for index, line in enumerate(lines):
            if self.cancel.is_set():
                return
            if not self._hit(line, rel, index + 1):
                continue
            if self.skipped < self.args.offset:
                self.skipped += 1
                continue
            match = SearchMatch(
                path=rel,
                line=index + 1,
                text=_cut(line, self.redactor),
                before=[_cut(x, self.redactor) for x in lines[max(0, index - ctx) : index]],
                after=[_cut(x, self.redactor) for x in lines[index + 1 : index + 1 + ctx]],
            )
            size = len(match.text) + sum(len(x) for x in match.before + match.after) + len(rel) + 16
            if len(self.matches) >= self.args.limit or (self.matches and self.used + size > MAX_OUTPUT_BYTES):
                self.full = True
                return
            self.matches.append(match)
            self.used += size

    def _hit(self, text: str, rel: str, line: int | None) -> bool:
        try:
            # concurrent=True releases the GIL while matching, so the event loop stays responsive.
            return self.pattern.search(text, timeout=MATCH_TIMEOUT_S, concurrent=True) is not None
        except TimeoutError:
            where = f"{rel!r}" if line is None else f"line {line} of {rel!r}"
            raise ToolError(
                f"the pattern took more than {MATCH_TIMEOUT_S:g} s on {where} and the search was stopped: "
                "it backtracks catastrophically (nested or overlapping repetition such as (a|aa)+). "
                "Simplify the pattern, narrow path/glob, or pass literal=true for plain text"
            ) from None


def _compile(args: SearchInput) -> regex.Pattern[str]:
    source = regex.escape(args.pattern) if args.literal else args.pattern
    flags = regex.VERSION0 | regex.MULTILINE | (regex.IGNORECASE if args.ignore_case else 0)
    try:
        return regex.compile(source, flags)
    except (regex.error, ValueError, OverflowError) as exc:
        raise ToolError(
            f"invalid regular expression: {exc}; pass literal=true to search for plain text"
        ) from None


def _search(ctx: ToolContext, args: SearchInput, cancel: threading.Event) -> SearchOutput:
    pattern = _compile(args)
    target = confine.resolve(ctx, args.path, judge=True)
    state = _Search(args, pattern, cancel, ctx, target.resolved.root)
    state.redactor = getattr(ctx.services, "redactor", None)
    walker = Walker(
        target, max_depth=None, gitignore=args.gitignore, max_scan=MAX_SCAN, cancel=cancel, judge=ctx.judge
    )
    try:
        if target.is_root or not _is_file(target):
            keep = path_matcher(args.glob, target.rel) if args.glob else None
            for entry in walker:
                if entry.kind != "file" or (keep is not None and not keep(entry.rel, entry.name)):
                    continue
                state.file(entry.dir_fd, entry.name, entry.rel)
                if state.full or cancel.is_set():
                    break
        else:
            with confine.parent_dir(target) as pfd:
                state.file(pfd, target.name, target.rel)
    except OSError as exc:
        raise confine.os_error(exc, target.rel) from None
    nxt = args.offset + len(state.matches)
    hint = None
    if state.full:
        hint = f"More matches follow; call files_search again with offset={nxt}, or narrow pattern/glob."
    elif walker.stats.capped:
        hint = f"The walk stopped after {MAX_SCAN} entries; pass a narrower path."
    else:
        hint = depth_note(walker.stats)
    return SearchOutput(
        matches=state.matches,
        files_scanned=state.scanned,
        files_skipped_binary=state.binary,
        files_skipped_large=state.large,
        truncated=state.full,
        next_offset=nxt if state.full else None,
        scan_capped=walker.stats.capped,
        withheld=ctx.judge.count,
        withheld_note=ctx.judge.note(),
        hint=hint,
    )


def _is_file(target: confine.Target) -> bool:
    with confine.parent_dir(target) as pfd:
        st = confine.lstat_at(pfd, target.name)
    return st is not None and confine.kind_of(st.st_mode) == "file"


async def _search_run(args: SearchInput, ctx: ToolContext) -> SearchOutput:
    return await run_in_thread(_search, ctx, args)


SEARCH_TOOLS = [
    Tool(
        name="files_search",
        title="Search file contents",
        description=(
            "Search the contents of text files below `path` for a regular expression (or literal text "
            "with literal=true), line by line like grep. Filter files with `glob` (`*.py`). Returns up "
            "to `limit` matching lines (default 200) with `context` lines around each, and at most "
            "128 KiB; continue with offset=next_offset. Binary, non-UTF-8 and >4 MiB files are skipped "
            "and counted. Honours .gitignore by default. A pattern that backtracks for more than 1 s on one "
            "file or line stops the search with an error; simplify it or use literal=true."
        ),
        input_model=SearchInput,
        output_model=SearchOutput,
        run=_search_run,
        effects=frozenset({Effect.READ}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
    ),
]
