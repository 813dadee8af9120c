"""files_write, files_edit, files_mkdir: the tools that create or change content."""

from __future__ import annotations

import difflib
import os
import stat

from pydantic import BaseModel, ConfigDict, Field

from tollhouse.gate.redact import Redactor
from tollhouse.tools.base import Effect, Tool, ToolContext, ToolError
from tollhouse.tools.files import confine, markers, textio
from tollhouse.tools.files.atomic import sha256, write_atomic

FAMILY = "files"
MAX_WRITE_BYTES = 10 * 1024 * 1024
MAX_DIFF_CHARS = 64 * 1024


def _redactor(ctx: ToolContext) -> Redactor | None:
    return getattr(ctx.services, "redactor", None)


def _digest_of(dir_fd: int, name: str, rel: str) -> tuple[str | None, bytes | None, os.stat_result | None]:
    """The current content's sha256 (and bytes, stat) if ``name`` is a regular file, else Nones."""
    st = confine.lstat_at(dir_fd, name)
    if st is None or not stat.S_ISREG(st.st_mode):
        return None, None, st
    fd, st = confine.open_regular_at(dir_fd, name, rel)
    try:
        if st.st_size > MAX_WRITE_BYTES:
            raise ToolError(
                f"{rel!r} is {st.st_size} bytes; files over {MAX_WRITE_BYTES} bytes are not rewritten"
            )
        data = confine.read_all(fd, MAX_WRITE_BYTES)
    finally:
        os.close(fd)
    return sha256(data), data, st


class WriteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(
        description="File path relative to the workspace root; missing directories are created."
    )
    content: str = Field(description="The complete new content (UTF-8).")
    overwrite: bool = Field(False, description="Replace the file if it exists (otherwise an error).")


class WriteOutput(BaseModel):
    path: str
    bytes: int
    created: bool
    sha256_before: str | None = None
    sha256_after: str


def _write(args: WriteInput, ctx: ToolContext) -> WriteOutput:
    target = confine.resolve(ctx, args.path, writing=True)
    ctx.record(paths=[target.rel])
    data = args.content.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"content is {len(data)} bytes; files_write accepts at most {MAX_WRITE_BYTES} bytes")
    with confine.parent_dir(target, create=True) as pfd:
        before, current, old = (
            _digest_of(pfd, target.name, target.rel) if args.overwrite else (None, None, None)
        )
        if current is not None:
            markers.check_write(target.rel, args.content, current.decode("utf-8", "replace"), _redactor(ctx))
        try:
            created = write_atomic(
                pfd, target.name, data, overwrite=args.overwrite, rel=target.rel, expect=old
            )
        except OSError as exc:
            raise confine.os_error(exc, target.rel) from None
    after = sha256(data)
    ctx.record(paths=[target.rel], bytes=len(data), sha256_before=before, sha256_after=after)
    return WriteOutput(
        path=target.rel, bytes=len(data), created=created, sha256_before=before, sha256_after=after
    )


async def _write_run(args: WriteInput, ctx: ToolContext) -> WriteOutput:
    return _write(args, ctx)


class Edit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_text: str = Field(
        min_length=1, description="Exact text to find, including whitespace and indentation."
    )
    new_text: str = Field(description="Text to put in its place.")
    replace_all: bool = Field(False, description="Replace every occurrence instead of requiring exactly one.")


class EditInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="File path relative to the workspace root.")
    edits: list[Edit] = Field(min_length=1, max_length=100, description="Replacements, applied in order.")
    dry_run: bool = Field(False, description="Only return the diff; change nothing.")


class EditOutput(BaseModel):
    path: str
    applied: bool = Field(description="False for a dry run or when the edits changed nothing.")
    replacements: int
    diff: str = Field(description="Unified diff of the change (line endings shown as \\n).")
    sha256_before: str
    sha256_after: str


def _line_numbers(text: str, needle: str, most: int = 5) -> list[int]:
    out: list[int] = []
    start = text.find(needle)
    while start != -1 and len(out) < most:
        out.append(text.count("\n", 0, start) + 1)
        start = text.find(needle, start + 1)
    return out


def apply_edits(text: str, edits: list[Edit], redactor: Redactor | None = None) -> tuple[str, int]:
    """Apply ``edits`` in order to LF-normalised text; all or nothing. With the gate's redactor, each
    edit is matched in the redacted view of the file, as it was read (markers.py)."""
    total = 0
    for number, edit in enumerate(edits, 1):
        old = edit.old_text.replace("\r\n", "\n")
        new = edit.new_text.replace("\r\n", "\n")
        if redactor is not None:
            text, count = markers.apply_in_view(
                text, old, new, replace_all=edit.replace_all, number=number, redactor=redactor
            )
            total += count
            continue
        count = text.count(old)
        if count == 0:
            raise ToolError(
                f"edit {number}: old_text was not found; nothing was changed. Read the file again "
                "(files_read) and copy the exact text, including whitespace and indentation"
            )
        if count > 1 and not edit.replace_all:
            lines = ", ".join(map(str, _line_numbers(text, old)))
            raise ToolError(
                f"edit {number}: old_text matches {count} times (lines {lines}); nothing was changed. "
                "Include more surrounding text to make it unique, or set replace_all=true"
            )
        text = text.replace(old, new) if edit.replace_all else text.replace(old, new, 1)
        total += count if edit.replace_all else 1
    return text, total


def _diff(rel: str, before: str, after: str) -> str:
    diff = "".join(
        difflib.unified_diff(
            textio.split_lines(before), textio.split_lines(after), fromfile=f"a/{rel}", tofile=f"b/{rel}"
        )
    )
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS] + f"\n... diff cut at {MAX_DIFF_CHARS} characters\n"
    return diff


def _edit(args: EditInput, ctx: ToolContext) -> EditOutput:
    target = confine.resolve(ctx, args.path, writing=True)
    ctx.record(paths=[target.rel])
    with confine.parent_dir(target) as pfd:
        before, data, st = _digest_of(pfd, target.name, target.rel)
        if data is None or before is None:
            if st is None:
                raise ToolError(f"{target.rel!r} does not exist; create it with files_write")
            raise confine.refuse_special(target.rel, st.st_mode)
        text = textio.decode(data, target.rel, target.name)
        # A CRLF file is edited as LF text and written back as CRLF, so edits written with \n match.
        crlf = text.newline == "\r\n"
        original = text.text.replace("\r\n", "\n") if crlf else text.text
        changed, count = apply_edits(original, args.edits, _redactor(ctx))
        diff = _diff(target.rel, original, changed)
        out_bytes = text.encode(changed.replace("\n", "\r\n") if crlf else changed)
        after = sha256(out_bytes)
        if args.dry_run or out_bytes == data:
            return EditOutput(
                path=target.rel,
                applied=False,
                replacements=count,
                diff=diff,
                sha256_before=before,
                sha256_after=after,
            )
        try:
            write_atomic(pfd, target.name, out_bytes, overwrite=True, rel=target.rel, expect=st)
        except OSError as exc:
            raise confine.os_error(exc, target.rel) from None
    ctx.record(paths=[target.rel], bytes=len(out_bytes), sha256_before=before, sha256_after=after)
    return EditOutput(
        path=target.rel, applied=True, replacements=count, diff=diff, sha256_before=before, sha256_after=after
    )


async def _edit_run(args: EditInput, ctx: ToolContext) -> EditOutput:
    return _edit(args, ctx)


class MkdirInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Directory to create, with any missing parents.")


class MkdirOutput(BaseModel):
    path: str
    created: bool = Field(description="False when the directory already existed.")


def _mkdir(args: MkdirInput, ctx: ToolContext) -> MkdirOutput:
    target = confine.resolve(ctx, args.path, writing=True)
    ctx.record(paths=[target.rel])
    if target.is_root:
        return MkdirOutput(path=target.rel, created=False)
    with confine.parent_dir(target, create=True) as pfd:
        existing = confine.lstat_at(pfd, target.name)
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                return MkdirOutput(path=target.rel, created=False)
            raise ToolError(
                f"{target.rel!r} exists and is a {confine.kind_of(existing.st_mode)}, not a directory"
            )
        try:
            os.mkdir(target.name, 0o777, dir_fd=pfd)
        except FileExistsError:
            return MkdirOutput(path=target.rel, created=False)
        except OSError as exc:
            raise confine.os_error(exc, target.rel) from None
    return MkdirOutput(path=target.rel, created=True)


async def _mkdir_run(args: MkdirInput, ctx: ToolContext) -> MkdirOutput:
    return _mkdir(args, ctx)


WRITE_TOOLS = [
    Tool(
        name="files_write",
        title="Write a file",
        description=(
            "Create a text file with the given content (UTF-8), creating missing directories. An existing "
            "file is only replaced with overwrite=true (prefer files_edit for changes to existing files). "
            "The write is atomic and keeps the file's permission bits. At most 10 MiB."
        ),
        input_model=WriteInput,
        output_model=WriteOutput,
        run=_write_run,
        effects=frozenset({Effect.WRITE}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
        destructive=True,
    ),
    Tool(
        name="files_edit",
        title="Edit a file",
        description=(
            "Apply exact text replacements to a file: each edit's old_text must occur exactly once (unless "
            "replace_all=true), otherwise nothing changes and the error says how often it matched and "
            "where. Edits apply in order, all or nothing. dry_run=true returns the unified diff without "
            "writing; the result always includes the diff. Line endings (CRLF), a UTF-8 BOM and the "
            "permission bits are kept."
        ),
        input_model=EditInput,
        output_model=EditOutput,
        run=_edit_run,
        effects=frozenset({Effect.WRITE}),
        family=FAMILY,
        path_fields=("path",),
        destructive=True,
    ),
    Tool(
        name="files_mkdir",
        title="Create a directory",
        description="Create a directory and any missing parents; succeeds if it already exists.",
        input_model=MkdirInput,
        output_model=MkdirOutput,
        run=_mkdir_run,
        effects=frozenset({Effect.WRITE}),
        family=FAMILY,
        path_fields=("path",),
        idempotent=True,
    ),
]
