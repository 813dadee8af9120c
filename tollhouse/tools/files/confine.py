"""Confinement: the one place where a file tool turns a path argument into something it may touch.

Two layers, both always applied:

1. *Resolution* (the policy's view): the argument is checked for NUL bytes, control and bidi characters,
   over-long names and bad encodings, then resolved with ``Workspace.resolve`` against the call's
   effective roots. Symlinks are followed there, so a link (or a link in any ancestor, existing or not,
   dangling or chained) that ends outside the roots is refused. Containment is by path components.
2. *Opening* (closing the check-then-use race): the resolved components are opened one by one from an
   ``O_DIRECTORY`` descriptor of the root with ``O_NOFOLLOW``. Resolution already replaced every link by
   its target, so any symlink met during the walk appeared after the check (a swap) and the walk fails
   instead of following it. Files are opened relative to the last directory descriptor, also with
   ``O_NOFOLLOW``, and checked with ``fstat`` to be regular files before a byte is read or written.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tollhouse.tools.base import PolicyDenied, ToolContext, ToolError
from tollhouse.workspace import PathError, ResolvedPath, check_raw_path

ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
DIR_FLAGS = ROOT_FLAGS | os.O_NOFOLLOW
# O_NONBLOCK: opening a FIFO must never block (we refuse it right after fstat); O_NOCTTY: a terminal
# device must never become our controlling terminal.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
NAME_MAX = 255

# C0/C1 controls and the bidi/direction marks that make a name display as something it is not.
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Target:
    """A path argument after resolution: where it lies under which root, as components."""

    raw: str
    resolved: ResolvedPath
    parts: tuple[str, ...]
    """Components below the root; empty for the root itself."""

    @property
    def rel(self) -> str:
        return self.resolved.rel

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else "."

    @property
    def is_root(self) -> bool:
        return not self.parts


def check_path_text(raw: object) -> str:
    """Reject malformed path arguments with an error that says what was wrong."""
    if not isinstance(raw, str):
        raise ToolError("path must be a string")
    try:
        check_raw_path(raw)
    except PathError as exc:
        raise ToolError(f"invalid path: {exc}; pass a path relative to the workspace root") from None
    bad = _BAD_CHARS.search(raw)
    if bad:
        raise ToolError(
            f"invalid path {raw!r}: it contains the control or direction character U+{ord(bad.group()):04X}; "
            "such names are refused because they can disguise what a path is"
        )
    for part in raw.split("/"):
        if len(part.encode("utf-8")) > NAME_MAX:
            raise ToolError(f"invalid path: the component {part[:40]!r}... is longer than {NAME_MAX} bytes")
    return raw


def _policy_view(ctx: ToolContext, raw: str) -> ResolvedPath:
    roots = ctx.roots
    if not roots:
        raise ToolError(
            "no workspace root is available to this call: the client's roots lie outside every root"
        )
    try:
        return ctx.workspace.resolve(raw, roots)
    except PathError as exc:
        raise ToolError(
            f"{exc}: paths are relative to the workspace root, and symlinks leading outside it are refused"
        ) from None
    except OSError:
        # realpath raises when a link vanishes while it is being read: the path is being swapped.
        raise ToolError(f"{raw!r} changed while it was being resolved; refused, try again") from None


def resolve(
    ctx: ToolContext, raw: str, *, follow_final: bool = True, writing: bool = False, judge: bool = True
) -> Target:
    """Resolve ``raw`` for this call. ``follow_final=False`` keeps the last component itself (a link
    is moved or deleted, not its target); the path must still resolve inside the roots either way.
    ``writing`` refuses immutable paths (a denial naming ``workspace.immutable``); ``judge`` refuses
    what the call's path judgement withholds (``ctx.judge``: state, and the path rules of policy for
    this tool and for reading), under the name used and the name it resolves to."""
    check_path_text(raw)
    view = _policy_view(ctx, raw)
    resolved = view
    if not follow_final and view.rel != ".":
        head, name = os.path.split(raw.rstrip("/") or raw)
        if name not in ("", ".", ".."):
            parent = _policy_view(ctx, head or ".") if head or not os.path.isabs(raw) else view
            rel = name if parent.rel == "." else f"{parent.rel}/{name}"
            resolved = ResolvedPath(root=parent.root, rel=rel, abs=parent.abs / name)
    if writing:
        for candidate in (view, resolved):
            if ctx.workspace.is_immutable(candidate):
                raise PolicyDenied(
                    "workspace.immutable",
                    f"{candidate.rel!r} is immutable (policy, state or a protected path); "
                    "no file tool writes, moves or deletes it",
                )
    if judge:
        # Writes too: a move renames a denied file out from under its rule, an edit returns a diff.
        for candidate in (view, resolved):
            rule = ctx.judge.rule_for(candidate)
            if rule is not None:
                raise withheld_error(rule, candidate.rel)
    parts = () if resolved.rel == "." else tuple(resolved.rel.split("/"))
    return Target(raw=raw, resolved=resolved, parts=parts)


def withheld_error(rule: str, rel: str) -> PolicyDenied:
    return PolicyDenied(
        rule,
        f"{rel!r} is withheld by policy (rule {rule}): no file tool reads, lists, searches or describes it",
    )


def check_inode(ctx: ToolContext, target: Target, st: os.stat_result) -> None:
    """A file with other names (hard links) is also judged by inode against the state directory."""
    if st.st_nlink > 1:
        rule = ctx.judge.withhold(target.resolved.root, target.rel, st)
        if rule is not None:
            raise withheld_error(rule, target.rel)


def kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def os_error(exc: OSError, rel: str) -> ToolError:
    """An OSError as an error a model can act on."""
    code = exc.errno
    if code == errno.ENOENT:
        return ToolError(f"{rel!r} does not exist; check the name with files_list or files_find")
    if code in (errno.ELOOP, errno.EMLINK):
        return ToolError(
            f"{rel!r}: a path component is a symlink that was not there when the path was checked "
            "(swapped during the call?); refused"
        )
    if code == errno.ENOTDIR:
        return ToolError(f"{rel!r}: a path component is not a directory (or was swapped during the call)")
    if code == errno.EISDIR:
        return ToolError(f"{rel!r} is a directory; use files_list for directories")
    if code == errno.EEXIST:
        return ToolError(f"{rel!r} already exists")
    if code == errno.ENOTEMPTY:
        return ToolError(f"{rel!r} is a non-empty directory")
    if code in (errno.EACCES, errno.EPERM):
        return ToolError(f"{rel!r}: permission denied by the operating system")
    if code == errno.ENAMETOOLONG:
        return ToolError(f"{rel!r}: name too long for the filesystem")
    if code == errno.ENOSPC:
        return ToolError(f"{rel!r}: no space left on the device; nothing was changed")
    return ToolError(f"{rel!r}: {exc.strerror or 'operating system error'}")


def walk_dirs(root: os.PathLike[str] | str, parts: tuple[str, ...], *, create: bool = False) -> int:
    """Open the directory ``root/parts...`` one component at a time, never following a symlink.

    With ``create`` missing components are made (``mkdir`` never follows a link either). Returns an
    owned descriptor; raises OSError.
    """
    fd = os.open(root, ROOT_FLAGS)
    try:
        for name in parts:
            try:
                nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def parent_dir(target: Target, *, create: bool = False) -> Iterator[int]:
    """A descriptor of the directory holding ``target``'s last component."""
    if target.is_root:
        raise ToolError("this operation needs a path below the workspace root, not the root itself")
    try:
        fd = walk_dirs(target.resolved.root, target.parts[:-1], create=create)
    except OSError as exc:
        raise os_error(exc, target.rel) from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def open_dir(target: Target) -> Iterator[int]:
    """A descriptor of ``target`` itself, which must be a directory."""
    try:
        fd = walk_dirs(target.resolved.root, target.parts)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise ToolError(f"{target.rel!r} is not a directory") from None
        raise os_error(exc, target.rel) from None
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def refuse_special(rel: str, mode: int) -> ToolError:
    kind = kind_of(mode)
    return ToolError(f"{rel!r} is a {kind}, not a regular file; only regular files are read or written")


def open_regular_at(dir_fd: int, name: str, rel: str) -> tuple[int, os.stat_result]:
    """Open a regular file for reading relative to ``dir_fd``; anything else is refused.

    The type is checked before opening (so a device is never opened) and again on the open
    descriptor (so a swap between the two checks is caught).
    """
    st = lstat_at(dir_fd, name)
    if st is None:
        raise ToolError(f"{rel!r} does not exist; check the name with files_list or files_find")
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{rel!r} is a directory; use files_list for directories")
        raise refuse_special(rel, st.st_mode)
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise os_error(exc, rel) from None
    now = os.fstat(fd)
    if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise ToolError(f"{rel!r} changed while it was being opened; refused, try again")
    return fd, now


@contextmanager
def open_read(target: Target) -> Iterator[tuple[int, os.stat_result]]:
    """An owned read descriptor of the regular file ``target`` and its fstat."""
    if target.is_root:
        raise ToolError("the workspace root is a directory; use files_list for directories")
    with parent_dir(target) as pfd:
        fd, st = open_regular_at(pfd, target.name, target.rel)
    try:
        yield fd, st
    finally:
        os.close(fd)


def read_all(fd: int, limit: int) -> bytes:
    """Read up to ``limit`` bytes from ``fd`` (plus one, so a caller can tell it was cut)."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
