"""files_move and files_delete: the tools that rename and remove entries."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

import anyio
from pydantic import BaseModel, ConfigDict, Field

from tollhouse.tools.base import Effect, PolicyDenied, Tool, ToolContext, ToolError
from tollhouse.tools.files import confine
from tollhouse.tools.files.atomic import rename_noreplace
from tollhouse.tools.files.settings import hash_max_bytes
from tollhouse.tools.files.walk import Walker, remove_tree

FAMILY = "files"
MAX_TREE_ENTRIES = 100_000
"""Most entries a recursive delete or a directory move checks (and so may touch)."""
HASH_MAX_BYTES = 64 * 1024 * 1024
"""Largest file whose sha256 a move or delete records, unless ``[files] hash_max_bytes`` says otherwise;
a bigger one is moved or deleted all the same, its receipt saying ``not_hashed`` instead (hashing a
16 GB sparse file took 48 s)."""
_CHUNK = 1 << 20

T = TypeVar("T")


class _Stopped(Exception):
    """The call was cancelled (timeout, client) while this worker ran; nothing more is done."""


def _hash_file(dir_fd: int, name: str, rel: str, ctx: ToolContext, cancel: threading.Event) -> str | None:
    st = confine.lstat_at(dir_fd, name)
    if st is None or not stat.S_ISREG(st.st_mode):
        return None
    cap = hash_max_bytes(ctx, HASH_MAX_BYTES)
    if st.st_size > cap:
        ctx.record(not_hashed=f"{rel} holds {st.st_size} bytes, over the {cap}-byte hashing cap")
        return None
    fd, _ = confine.open_regular_at(dir_fd, name, rel)
    digest = hashlib.sha256()
    left = cap + 1  # the file may grow while we read; never read past the cap
    try:
        while left > 0 and (chunk := os.read(fd, min(_CHUNK, left))):
            if cancel.is_set():
                raise _Stopped
            digest.update(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        ctx.record(not_hashed=f"{rel} grew past the {cap}-byte hashing cap while read")
        return None
    return digest.hexdigest()


async def run_off_loop(fn: Callable[[threading.Event], T]) -> T:
    """Run a writing tool's work in a worker thread, so hashing, tree walks and deletes never hold
    the event loop. On cancellation the worker is told to stop (it checks before every change and
    between chunks and entries), and the call waits, shielded, for it to finish its current step:
    nothing is changed after the call has answered."""
    cancel = threading.Event()
    done = threading.Event()

    def work() -> T:
        try:
            return fn(cancel)
        finally:
            done.set()

    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    finally:
        cancel.set()
        if not done.is_set():
            with anyio.CancelScope(shield=True):
                # A threading.Event: the abandoned worker cannot reach an anyio one. One step is short.
                while not done.is_set():  # noqa: ASYNC110
                    await anyio.sleep(0.002)


def _check_tree(
    ctx: ToolContext,
    tree: confine.Target,
    cancel: threading.Event,
    also_under: confine.Target | None = None,
) -> int:
    """Refuse if any entry below ``tree`` (or its future place below ``also_under``) is immutable or
    withheld by the call's path judgement (``ctx.judge``).

    Returns the number of entries; a tree too large to check is refused rather than half-checked.
    Every level is checked, however deep (the walk is iterative).
    """
    walker = Walker(tree, max_depth=None, gitignore=False, max_scan=MAX_TREE_ENTRIES, depth_limit=None)
    count = 0
    prefix = len(tree.rel) + 1
    root_text = os.fspath(tree.resolved.root)
    for entry in walker:
        if cancel.is_set():
            raise _Stopped
        count += 1
        candidates = [entry.rel]
        if also_under is not None:
            candidates.append(f"{also_under.rel}/{entry.rel[prefix:]}")
        for rel in candidates:
            # The absolute path as text: is_immutable only compares text, and building a Path of a
            # 2,000-level name for every entry made the check quadratic (seconds for one deep tree).
            absolute = cast(Path, f"{root_text}/{rel}")
            resolved = confine.ResolvedPath(root=tree.resolved.root, rel=rel, abs=absolute)
            if ctx.workspace.is_immutable(resolved):
                raise PolicyDenied(
                    "workspace.immutable",
                    f"{rel!r} is immutable; a tree containing it is not moved or deleted",
                )
            # Policy saw only the tree's top: a denied entry inside must not be moved out from under
            # its rule (``docs/private/**`` renamed to ``pub/private``) or deleted unseen.
            rule = ctx.judge.rule_for(resolved)
            if rule is not None:
                raise PolicyDenied(
                    rule,
                    f"{rel!r} is withheld by policy (rule {rule}); "
                    "a tree containing it is not moved or deleted",
                )
    if walker.stats.capped:
        raise ToolError(
            f"{tree.rel!r} holds more than {MAX_TREE_ENTRIES} entries; refused, split the operation"
        )
    return count


def _refuse_root(target: confine.Target, what: str) -> None:
    if target.is_root:
        raise ToolError(f"the workspace root itself cannot be {what}")


class MoveInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="Existing file or directory, relative to the workspace root.")
    destination: str = Field(description="New path (the exact new name, not a directory to move into).")
    overwrite: bool = Field(False, description="Replace an existing destination file.")


class MoveOutput(BaseModel):
    source: str
    destination: str
    type: str
    overwritten: bool


def _move(args: MoveInput, ctx: ToolContext, cancel: threading.Event) -> MoveOutput:
    hash_max_bytes(ctx, HASH_MAX_BYTES)  # a bad setting refuses the call before anything is touched
    src = confine.resolve(ctx, args.source, follow_final=False, writing=True)
    dst = confine.resolve(ctx, args.destination, follow_final=False, writing=True)
    ctx.record(paths=[src.rel, dst.rel])
    _refuse_root(src, "moved")
    _refuse_root(dst, "replaced")
    if src.resolved.root != dst.resolved.root:
        raise ToolError("source and destination are in different workspace roots; copy with read and write")
    if src.parts == dst.parts:
        raise ToolError("source and destination are the same path")
    if dst.parts[: len(src.parts)] == src.parts:
        raise ToolError(f"cannot move {src.rel!r} into itself")
    with confine.parent_dir(src) as sfd:
        st = confine.lstat_at(sfd, src.name)
        if st is None:
            raise ToolError(f"{src.rel!r} does not exist; check the name with files_list or files_find")
        kind = confine.kind_of(st.st_mode)
        if kind not in ("file", "directory", "symlink"):
            raise confine.refuse_special(src.rel, st.st_mode)
        if kind == "directory":
            _check_tree(ctx, src, cancel, also_under=dst)
        digest = _hash_file(sfd, src.name, src.rel, ctx, cancel)
        with confine.parent_dir(dst, create=True) as dfd:
            old = confine.lstat_at(dfd, dst.name)
            replaced = None
            try:
                if old is not None and args.overwrite:
                    if stat.S_ISDIR(old.st_mode):
                        raise ToolError(f"{dst.rel!r} is a directory; it is never replaced by a move")
                    if not (stat.S_ISREG(old.st_mode) or stat.S_ISLNK(old.st_mode)):
                        raise confine.refuse_special(dst.rel, old.st_mode)
                    replaced = _hash_file(dfd, dst.name, dst.rel, ctx, cancel)
                    if cancel.is_set():
                        raise _Stopped
                    os.rename(src.name, dst.name, src_dir_fd=sfd, dst_dir_fd=dfd)
                else:
                    if cancel.is_set():
                        raise _Stopped
                    rename_noreplace(sfd, src.name, dfd, dst.name)
            except FileExistsError:
                raise ToolError(
                    f"{dst.rel!r} already exists; nothing was moved. Pass overwrite=true to replace it"
                ) from None
            except OSError as exc:
                raise confine.os_error(exc, dst.rel) from None
            os.fsync(dfd)
        os.fsync(sfd)
    ctx.record(paths=[src.rel, dst.rel], bytes=st.st_size, sha256_before=replaced, sha256_after=digest)
    return MoveOutput(source=src.rel, destination=dst.rel, type=kind, overwritten=old is not None)


async def _move_run(args: MoveInput, ctx: ToolContext) -> MoveOutput:
    return await run_off_loop(lambda cancel: _move(args, ctx, cancel))


class DeleteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="File, symlink or directory to delete, relative to the workspace root.")
    recursive: bool = Field(False, description="Required to delete a directory (and everything in it).")


class DeleteOutput(BaseModel):
    path: str
    type: str
    entries_deleted: int = Field(description="Entries removed, the path itself included.")


def _delete(args: DeleteInput, ctx: ToolContext, cancel: threading.Event) -> DeleteOutput:
    hash_max_bytes(ctx, HASH_MAX_BYTES)  # a bad setting refuses the call before anything is touched
    target = confine.resolve(ctx, args.path, follow_final=False, writing=True)
    ctx.record(paths=[target.rel])
    _refuse_root(target, "deleted")
    with confine.parent_dir(target) as pfd:
        st = confine.lstat_at(pfd, target.name)
        if st is None:
            raise ToolError(f"{target.rel!r} does not exist; check the name with files_list or files_find")
        kind = confine.kind_of(st.st_mode)
        try:
            if kind == "directory":
                if not args.recursive:
                    raise ToolError(
                        f"{target.rel!r} is a directory; pass recursive=true to delete it and its contents"
                    )
                _check_tree(ctx, target, cancel)
                # By descriptors, deepest first, never following a symlink; any depth.
                count = remove_tree(pfd, target.name, cancel)
                digest = None
            elif kind in ("file", "symlink"):
                digest = _hash_file(pfd, target.name, target.rel, ctx, cancel)
                if cancel.is_set():
                    raise _Stopped
                os.unlink(target.name, dir_fd=pfd)
                count = 1
            else:
                raise confine.refuse_special(target.rel, st.st_mode)
        except OSError as exc:
            raise confine.os_error(exc, target.rel) from None
        os.fsync(pfd)
    ctx.record(paths=[target.rel], bytes=st.st_size, sha256_before=digest, sha256_after=None, entries=count)
    return DeleteOutput(path=target.rel, type=kind, entries_deleted=count)


async def _delete_run(args: DeleteInput, ctx: ToolContext) -> DeleteOutput:
    return await run_off_loop(lambda cancel: _delete(args, ctx, cancel))


MANAGE_TOOLS = [
    Tool(
        name="files_move",
        title="Move or rename",
        description=(
            "Move or rename a file, symlink or directory inside the workspace; missing parent directories "
            "of the destination are created. `destination` is the new path itself. An existing "
            "destination is never replaced unless overwrite=true (directories are never replaced). The "
            "rename is atomic."
        ),
        input_model=MoveInput,
        output_model=MoveOutput,
        run=_move_run,
        effects=frozenset({Effect.WRITE}),
        family=FAMILY,
        path_fields=("source", "destination"),
        destructive=True,
    ),
    Tool(
        name="files_delete",
        title="Delete",
        description=(
            "Delete a file or symlink (the link itself, not its target). A directory is deleted, with "
            "everything in it, only with recursive=true. Immutable paths and trees containing them are "
            "refused."
        ),
        input_model=DeleteInput,
        output_model=DeleteOutput,
        run=_delete_run,
        effects=frozenset({Effect.WRITE}),
        family=FAMILY,
        path_fields=("path",),
        destructive=True,
    ),
]
