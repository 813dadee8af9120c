"""files_read, files_read_many, files_stat: the read-only tools over single files."""

from __future__ import annotations

import base64
import io
import os
import re
import stat
from datetime import UTC, datetime

import anyio
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tollhouse.gate.redact import CUT_OVERLAP, Redactor
from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError
from tollhouse.tools.files import confine, textio

FAMILY = "files"
MAX_READ_BYTES = 256 * 1024
"""Most text one files_read returns; longer files are read in windows with ``offset``."""
DEFAULT_LINES = 2000
MAX_BASE64_BYTES = 1024 * 1024
WHOLE_FILE_BYTES = 8 * 1024 * 1024
"""Files up to this size are decoded whole (line count known); larger ones are streamed."""
MANY_MAX_PATHS = 50
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
"""A PEM/OpenSSH/PGP private key header, as the redactor recognises one in text."""
MANY_TOTAL_BYTES = 512 * 1024


class ReadInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="File path relative to the workspace root.")
    offset: int = Field(1, ge=1, description="First line to return (1-based). Use next_offset to continue.")
    limit: int = Field(DEFAULT_LINES, ge=1, le=100_000, description="Most lines to return.")
    head: int | None = Field(None, ge=1, description="Return only the first N lines (same as limit=N).")
    tail: int | None = Field(None, ge=1, description="Return only the last N lines.")
    as_base64: bool = Field(False, description="Return the raw bytes base64-encoded (files up to 1 MiB).")

    @model_validator(mode="after")
    def _one_mode(self) -> ReadInput:
        if self.head is not None and self.tail is not None:
            raise ValueError("pass head or tail, not both")
        if self.tail is not None and self.offset != 1:
            raise ValueError("tail reads the end of the file; do not combine it with offset")
        return self


class ReadOutput(BaseModel):
    path: str
    size: int = Field(description="File size in bytes.")
    content: str | None = Field(None, description="The text of the requested lines.")
    base64: str | None = None
    mime_type: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    total_lines: int | None = Field(None, description="Line count, when the whole file was scanned.")
    line_ending: str | None = None
    truncated: bool = Field(False, description="The byte cap stopped the output early.")
    next_offset: int | None = Field(None, description="Pass as offset to read on; null at the end.")
    hint: str | None = None


def _stream_window(
    fd: int, offset: int, limit: int, cap: int, rel: str, redactor: Redactor | None = None
) -> textio.Window:
    """Window over a file too large to decode whole: lines are read one at a time."""
    reader = io.BufferedReader(io.FileIO(fd, closefd=False), 1 << 16)
    number = 0
    out: list[str] = []
    used = 0
    cut = False
    while True:
        raw = reader.readline(cap + CUT_OVERLAP)  # past the cap: a cut must not split a secret
        if not raw:
            break
        number += 1
        if number == 1 and raw.startswith(textio.BOM):
            raw = raw[len(textio.BOM) :]
        if number < offset:
            continue
        if len(out) >= limit or used + len(raw) > cap:
            if not out:
                out.append(textio.clear_prefix(raw, cap, redactor))
                number += 1
            cut = len(out) < limit
            return textio.Window("".join(out), offset, offset + len(out) - 1, cut, number, None)
        if b"\x00" in raw:
            raise textio.binary_error(rel, "application/octet-stream", os.fstat(fd).st_size)
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ToolError(
                f"{rel!r} is not valid UTF-8 text at line {number}; read it with as_base64=true"
            ) from None
        used += len(raw)
    if number < offset and not (number == 0 and offset == 1):
        raise ToolError(f"offset {offset} is past the end of the file ({number} lines)")
    return textio.Window(
        "".join(out), offset if out else None, offset + len(out) - 1 if out else None, False, None, number
    )


def _stream_tail(fd: int, size: int, count: int, cap: int) -> textio.Window:
    """The last ``count`` lines of a large file, reading backwards from its end."""
    chunks: list[bytes] = []
    pos = size
    have = b""
    while pos > 0 and have.count(b"\n") <= count and len(have) <= cap:
        step = min(1 << 16, pos)
        pos -= step
        chunks.insert(0, os.pread(fd, step, pos))
        have = b"".join(chunks)
    lines = textio.split_lines(_decode_suffix(have))
    if pos > 0 and lines:
        lines = lines[1:]  # the first piece may be a partial line
    win = textio.tail_window(lines, count, cap)
    return textio.Window(win.content, None, None, win.truncated, None, None)


def _redactor(ctx: ToolContext) -> Redactor | None:
    return getattr(ctx.services, "redactor", None)


def _decode_suffix(data: bytes) -> str:
    for cut in range(4):
        try:
            return data[cut:].decode("utf-8")
        except UnicodeDecodeError:
            continue
    raise ToolError("the end of this file is not valid UTF-8 text; read it with as_base64=true")


def _base64_limit(ctx: ToolContext) -> tuple[int, str]:
    """Base64 cannot be cut or paged, so a file must fit, encoded, in what the face can deliver."""
    budget = getattr(ctx.call, "result_budget", None)
    if isinstance(budget, int) and budget > 0:
        fits = (budget - 4096) * 3 // 4  # 4 characters per 3 bytes, and room for the rest of the result
        if fits < MAX_BASE64_BYTES:
            return max(0, fits), " on this connection (one HTTP event: [http] max_event_bytes)"
    return MAX_BASE64_BYTES, ""


def read_file(ctx: ToolContext, args: ReadInput, cap: int = MAX_READ_BYTES) -> ReadOutput:
    target = confine.resolve(ctx, args.path)
    rel = target.rel
    with confine.open_read(target) as (fd, st):
        confine.check_inode(ctx, target, st)
        size = st.st_size
        head = os.pread(fd, textio.SNIFF_BYTES, 0)
        if args.as_base64:
            limit, why = _base64_limit(ctx)
            if size > limit:
                raise ToolError(f"{rel!r} is {size} bytes; base64 reads are limited to {limit} bytes{why}")
            data = confine.read_all(fd, limit)
            if PRIVATE_KEY.search(data):
                # The redactor sees text, not what base64 encodes: a key block would pass it whole.
                raise ToolError(
                    f"{rel!r} holds a private key block; it is not returned as base64 "
                    "(read it as text, where the key is redacted)"
                )
            redactor = _redactor(ctx)
            if redactor is not None and redactor.spans(data.decode("utf-8", "replace")):
                # Encoded, a secret would pass every detector and known value: hand over none of it.
                raise ToolError(
                    f"{rel!r} holds a secret (a token or a known credential value), and base64 would "
                    "carry it past redaction; read it as text, where the secret shows as [REDACTED:...]"
                )
            return ReadOutput(
                path=rel,
                size=len(data),
                base64=base64.b64encode(data).decode("ascii"),
                mime_type=textio.sniff_type(head, target.name),
            )
        limit = args.head or args.limit
        if size <= WHOLE_FILE_BYTES:
            text = textio.decode(confine.read_all(fd, WHOLE_FILE_BYTES), rel, target.name)
            lines = textio.split_lines(text.text)
            if args.tail is not None:
                win = textio.tail_window(lines, args.tail, cap)
            else:
                win = textio.window(lines, args.offset, limit, cap, _redactor(ctx))
            newline = text.newline
        else:
            body = head[len(textio.BOM) :] if head.startswith(textio.BOM) else head
            if textio.looks_binary(body):
                raise textio.binary_error(rel, textio.sniff_type(head, target.name), size)
            if args.tail is not None:
                win = _stream_tail(fd, size, args.tail, cap)
            else:
                win = _stream_window(fd, args.offset, limit, cap, rel, _redactor(ctx))
            newline = textio.newline_style(win.content)
    hint = None
    if win.next_offset is not None:
        why = "the byte cap" if win.truncated else "the line limit"
        hint = f"Output stopped at {why}; call files_read with offset={win.next_offset} to continue."
    elif args.tail is not None and win.start_line is None and win.truncated:
        hint = "Only the lines that fit the byte cap were returned."
    return ReadOutput(
        path=rel,
        size=size,
        content=win.content,
        start_line=win.start_line,
        end_line=win.end_line,
        total_lines=win.total_lines,
        line_ending=newline,
        truncated=win.truncated,
        next_offset=win.next_offset,
        hint=hint,
    )


INLINE_BYTES = 256 * 1024


async def _read_run(args: ReadInput, ctx: ToolContext) -> ReadOutput:
    # Small files are read on the event loop (a thread hop costs more than the read); the size
    # probe is only a scheduling hint, confinement happens in read_file either way.
    try:
        small = os.stat(ctx.workspace.resolve(args.path, ctx.roots).abs).st_size <= INLINE_BYTES
    except (OSError, ValueError):
        small = True
    if small:
        return read_file(ctx, args)
    return await anyio.to_thread.run_sync(read_file, ctx, args)


class ReadManyInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1, max_length=MANY_MAX_PATHS, description="File paths to read.")


class ReadManyItem(BaseModel):
    path: str
    ok: bool
    content: str | None = None
    error: str | None = None
    truncated: bool = False
    next_offset: int | None = None


class ReadManyOutput(BaseModel):
    files: list[ReadManyItem]


def _read_many(ctx: ToolContext, args: ReadManyInput) -> ReadManyOutput:
    budget = MANY_TOTAL_BYTES
    items: list[ReadManyItem] = []
    for raw in args.paths:
        if budget <= 0:
            items.append(ReadManyItem(path=raw, ok=False, error="skipped: the total byte cap was reached"))
            continue
        try:
            out = read_file(ctx, ReadInput(path=raw), cap=min(MAX_READ_BYTES, budget))
        except ToolError as exc:
            items.append(ReadManyItem(path=raw, ok=False, error=str(exc)))
            continue
        budget -= len((out.content or "").encode("utf-8"))
        items.append(
            ReadManyItem(
                path=out.path,
                ok=True,
                content=out.content,
                truncated=out.next_offset is not None,
                next_offset=out.next_offset,
            )
        )
    return ReadManyOutput(files=items)


async def _read_many_run(args: ReadManyInput, ctx: ToolContext) -> ReadManyOutput:
    return await anyio.to_thread.run_sync(_read_many, ctx, args)


class StatInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Path relative to the workspace root.")


class StatOutput(BaseModel):
    path: str
    type: str = Field(description="file, directory, symlink, FIFO, socket, character device, block device")
    size: int
    mode: str = Field(description="Permission bits in octal, e.g. 0o644.")
    modified: str = Field(description="Last modification time, ISO 8601 UTC.")
    links: int = Field(description="Hard link count; above 1 the same content has other names.")
    symlink_target: str | None = Field(None, description="For a symlink: where it resolves, root-relative.")
    immutable: bool = Field(description="True when no file tool may change this path.")


def _stat(ctx: ToolContext, args: StatInput) -> StatOutput:
    entry = confine.resolve(ctx, args.path, follow_final=False)
    followed = confine.resolve(ctx, args.path)
    try:
        if entry.is_root:
            fd = confine.walk_dirs(entry.resolved.root, ())
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
        else:
            with confine.parent_dir(entry) as pfd:
                found = confine.lstat_at(pfd, entry.name)
            if found is None:
                raise ToolError(f"{entry.rel!r} does not exist; check the name with files_list or files_find")
            st = found
            if stat.S_ISREG(st.st_mode):
                confine.check_inode(ctx, entry, st)
    except OSError as exc:
        raise confine.os_error(exc, entry.rel) from None
    is_link = stat.S_ISLNK(st.st_mode)
    return StatOutput(
        path=entry.rel,
        type=confine.kind_of(st.st_mode),
        size=st.st_size,
        mode=oct(stat.S_IMODE(st.st_mode)),
        modified=datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
        links=st.st_nlink,
        symlink_target=followed.rel if is_link else None,
        immutable=ctx.workspace.is_immutable(entry.resolved) or ctx.workspace.is_immutable(followed.resolved),
    )


async def _stat_run(args: StatInput, ctx: ToolContext) -> StatOutput:
    return _stat(ctx, args)


READ_TOOLS = [
    Tool(
        name="files_read",
        title="Read a text file",
        description=(
            "Read a UTF-8 text file in the workspace. Returns up to `limit` lines (default 2000) from line "
            "`offset` (1-based), and never more than 256 KiB of text; when output stops early, "
            "`next_offset` says where to continue (call again with offset=next_offset). `head`/`tail` "
            "return the first/last N lines. Binary files are refused with their size and type unless "
            "`as_base64` is true (files up to 1 MiB). Paths are relative to the workspace root."
        ),
        input_model=ReadInput,
        output_model=ReadOutput,
        run=_read_run,
        effects=frozenset({Effect.READ}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
    ),
    Tool(
        name="files_read_many",
        title="Read several text files",
        description=(
            "Read up to 50 text files in one call. Each file gets the first 2000 lines / 256 KiB, and the "
            "call returns at most 512 KiB in total; files that fail carry their own error instead of "
            "failing the call. Use files_read with offset=next_offset to read further in one file."
        ),
        input_model=ReadManyInput,
        output_model=ReadManyOutput,
        run=_read_many_run,
        effects=frozenset({Effect.READ}),
        family=FAMILY,
        path_fields=("paths",),
        idempotent=True,
    ),
    Tool(
        name="files_stat",
        title="File information",
        description=(
            "Type, size, permission bits, modification time and hard-link count of a path in the "
            "workspace. A symlink is described itself, with the root-relative path it resolves to."
        ),
        input_model=StatInput,
        output_model=StatOutput,
        run=_stat_run,
        effects=frozenset({Effect.READ}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
    ),
]
