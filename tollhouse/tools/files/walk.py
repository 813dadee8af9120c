"""A bounded, descriptor-based tree walk shared by files_list, files_find and files_search, and the
tree removal of files_delete.

Directories are opened relative to their parent's descriptor with ``O_NOFOLLOW``: a symlink is listed
as a symlink and never entered, and a directory swapped for a link mid-walk fails to open (it is
skipped, not followed). ``.gitignore`` files from the root down are honoured when asked; ``.git`` is
then skipped as git itself does. The walk stops after ``max_scan`` entries so a huge tree cannot make
a call unbounded.

Both walks are loops over an explicit stack, not recursion, so a tree thousands of levels deep (one
``files_mkdir`` can make one) costs no interpreter stack. Only the deepest ``FD_WINDOW`` directories
keep a descriptor open; climbing back above them reopens the parent through ``..`` and checks it is
the very directory (device and inode) the walk left, so a tree moved mid-walk is refused, not followed.
Listing walks stop descending at ``MAX_DEPTH`` levels and say so (``WalkStats.too_deep``).
"""

from __future__ import annotations

import os
import stat
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import pathspec

from tollhouse.tools.base import ToolError
from tollhouse.tools.files import confine
from tollhouse.workspace import PathJudge

GITIGNORE_MAX_BYTES = 1024 * 1024
GITIGNORE_MAX_LINES = 2048
"""Pattern lines read from one .gitignore; later lines are not honoured (a listing filter, not a
boundary: at worst an ignored file is listed)."""
GITIGNORE_CHUNK = 128
"""Lines compiled into one RE2 set; RE2 refuses sets past its memory budget."""
MAX_DEPTH = 256
"""Levels below its start a listing walk descends at most (files_list, files_find, files_search)."""
FD_WINDOW = 64
"""Directory descriptors a walk keeps open at once, whatever the depth."""


@dataclass(frozen=True)
class Entry:
    rel: str
    """Root-relative POSIX path."""
    name: str
    kind: str
    size: int
    depth: int
    """1 for the start directory's children."""
    dir_fd: int
    """Descriptor of the containing directory; valid only until the walk moves on."""


@dataclass
class WalkStats:
    scanned: int = 0
    capped: bool = False
    skipped_undecodable: int = 0
    unreadable_dirs: list[str] = field(default_factory=list)
    too_deep: list[str] = field(default_factory=list)
    """Directories at the depth limit that were listed but not entered."""


def depth_note(stats: WalkStats) -> str | None:
    """The hint a listing gives when it met directories at the depth limit."""
    if not stats.too_deep:
        return None
    return (
        f"{len(stats.too_deep)} directories lie {MAX_DEPTH} levels deep and were not entered "
        f"(first: {stats.too_deep[0][:200]!r}); call again with a path inside them."
    )


class IgnoreFile:
    """One .gitignore, compiled in chunks of RE2 sets (linear-time: a hostile line such as ``*?*?…Z``
    cannot backtrack). The last matching line decides, across chunks as within one."""

    def __init__(self, lines: list[str]) -> None:
        self.specs: list[pathspec.GitIgnoreSpec] = []
        for i in range(0, len(lines), GITIGNORE_CHUNK):
            self.specs.extend(_compile_lines(lines[i : i + GITIGNORE_CHUNK]))

    def check(self, path: str) -> bool | None:
        verdict = None
        for spec in self.specs:
            result = spec.check_file(path)
            if result.include is not None:
                verdict = result.include
        return verdict


def _compile_lines(lines: list[str]) -> list[pathspec.GitIgnoreSpec]:
    with warnings.catch_warnings():
        # pathspec also compiles each line with re, which warns about odd classes ("nested set"):
        # the workspace's text, not ours to report on stderr.
        warnings.simplefilter("ignore", FutureWarning)
        return _compile_lines_quietly(lines)


def _compile_lines_quietly(lines: list[str]) -> list[pathspec.GitIgnoreSpec]:
    try:
        return [pathspec.GitIgnoreSpec.from_lines(lines, backend="re2")]
    except Exception:  # noqa: S110 - pathspec and RE2 raise several kinds for one bad line
        pass
    # A line git would not read (a trailing backslash) or RE2 cannot compile: drop that line, as git
    # ignores a pattern it cannot use, and keep the others in order.
    good: list[str] = []
    for line in lines:
        try:
            pathspec.GitIgnoreSpec.from_lines([line], backend="re2")
        except Exception:  # noqa: S112
            continue
        good.append(line)
    try:
        return [pathspec.GitIgnoreSpec.from_lines(good, backend="re2")] if good else []
    except Exception:  # lines fine alone but too big together: one set each
        return [pathspec.GitIgnoreSpec.from_lines([line], backend="re2") for line in good]


def _load_gitignore(dir_fd: int) -> IgnoreFile | None:
    try:
        fd, _ = confine.open_regular_at(dir_fd, ".gitignore", ".gitignore")
    except (ToolError, OSError):
        return None  # absent, or not a regular file: nothing to honour
    try:
        data = confine.read_all(fd, GITIGNORE_MAX_BYTES)[:GITIGNORE_MAX_BYTES]
    finally:
        os.close(fd)
    lines = [
        line
        for line in data.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("#")
    ][:GITIGNORE_MAX_LINES]
    ignore = IgnoreFile(lines) if lines else None
    return ignore if ignore is not None and ignore.specs else None


Specs = list[tuple[str, IgnoreFile]]


class _Frame:
    """One open (or, above the window, closed) directory of a walk and the names left to visit."""

    __slots__ = ("depth", "fd", "ident", "name", "names", "rel", "specs")

    def __init__(self, fd: int, name: str, rel: str, depth: int, specs: Specs, names: list[str]) -> None:
        st = os.fstat(fd)
        self.fd: int | None = fd
        self.ident = (st.st_dev, st.st_ino)
        self.name = name
        self.rel = rel
        self.depth = depth
        self.specs = specs
        self.names = names  # reversed: pop() gives the next name in order


class _Stack:
    """The walk's directories from the start down, with at most FD_WINDOW descriptors open."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []

    def push(self, frame: _Frame) -> None:
        self.frames.append(frame)
        if len(self.frames) > FD_WINDOW:
            above = self.frames[-FD_WINDOW - 1]
            if above.fd is not None:
                os.close(above.fd)
                above.fd = None

    def pop(self) -> _Frame:
        """Remove the deepest frame (its descriptor still open: the caller closes it) and make sure
        the new deepest one is open again."""
        frame = self.frames.pop()
        if self.frames and self.frames[-1].fd is None:
            assert frame.fd is not None
            parent = self.frames[-1]
            fd = os.open("..", confine.DIR_FLAGS, dir_fd=frame.fd)
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != parent.ident:
                os.close(fd)
                os.close(frame.fd)
                frame.fd = None
                raise ToolError(
                    f"{parent.rel or '.'!r} was moved while it was being walked; nothing past it was "
                    "visited, try again"
                )
            parent.fd = fd
        return frame

    def close(self) -> None:
        for frame in self.frames:
            if frame.fd is not None:
                os.close(frame.fd)
                frame.fd = None
        self.frames.clear()


class Walker:
    def __init__(
        self,
        start: confine.Target,
        *,
        max_depth: int | None,
        gitignore: bool,
        max_scan: int,
        cancel: threading.Event | None = None,
        judge: PathJudge | None = None,
        depth_limit: int | None = MAX_DEPTH,
    ) -> None:
        """``max_depth`` is the depth asked for (None: all); ``depth_limit`` the hard bound a listing
        walk never passes (None only for walks that must see every entry, like a delete's check)."""
        self.start = start
        self.judge = judge
        """Policy's per-path judgement (``ctx.judge``): an entry it withholds is neither returned nor
        entered, and is counted by the judge."""
        self.max_depth = max_depth
        self.depth_limit = depth_limit
        self.gitignore = gitignore
        self.max_scan = max_scan
        self.cancel = cancel
        self.stats = WalkStats()

    def _ignored(self, specs: Specs, rel: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in specs:
            sub = rel if base == "" else rel[len(base) + 1 :]
            result = spec.check(sub + "/" if is_dir else sub)
            if result is not None:
                verdict = result
        return verdict

    def _ancestor_specs(self) -> Specs:
        specs: Specs = []
        parts = self.start.parts
        for i in range(len(parts)):
            fd = confine.walk_dirs(self.start.resolved.root, parts[:i])
            try:
                spec = _load_gitignore(fd)
            finally:
                os.close(fd)
            if spec is not None:
                specs.append(("/".join(parts[:i]), spec))
        return specs

    def _frame(self, fd: int, name: str, rel: str, depth: int, specs: Specs) -> _Frame:
        try:
            if self.gitignore:
                spec = _load_gitignore(fd)
                if spec is not None:
                    specs = [*specs, (rel, spec)]
            names: list[str] = []
            if not self.stats.capped:
                with os.scandir(fd) as it:
                    for dirent in it:
                        self.stats.scanned += 1
                        if self.stats.scanned > self.max_scan:
                            self.stats.capped = True
                            break
                        names.append(dirent.name)
            names.sort(reverse=True)
            return _Frame(fd, name, rel, depth, specs, names)
        except BaseException:
            os.close(fd)
            raise

    def _descend(self, depth: int) -> bool:
        return (self.max_depth is None or depth < self.max_depth) and not self.stats.capped

    def __iter__(self) -> Iterator[Entry]:
        """Entries in pre-order, names sorted; raises OSError if the start cannot be opened."""
        root_fd = confine.walk_dirs(self.start.resolved.root, self.start.parts)
        try:
            specs = self._ancestor_specs() if self.gitignore else []
        except BaseException:
            os.close(root_fd)
            raise
        base = "" if self.start.is_root else self.start.rel
        stack = _Stack()
        stack.push(self._frame(root_fd, self.start.name, base, 1, specs))
        try:
            yield from self._walk(stack)
        finally:
            stack.close()

    def _walk(self, stack: _Stack) -> Iterator[Entry]:
        while stack.frames:
            top = stack.frames[-1]
            if not top.names:
                frame = stack.pop()
                assert frame.fd is not None
                os.close(frame.fd)
                continue
            if self.cancel is not None and self.cancel.is_set():
                return
            name = top.names.pop()
            fd = top.fd
            assert fd is not None
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                self.stats.skipped_undecodable += 1
                continue
            if self.gitignore and name == ".git":
                continue
            child = name if top.rel == "" else f"{top.rel}/{name}"
            st = confine.lstat_at(fd, name)
            if st is None:
                continue  # vanished since the listing
            is_dir = stat.S_ISDIR(st.st_mode)
            if top.specs and self._ignored(top.specs, child, is_dir):
                continue
            if self.judge is not None and self.judge.withhold(self.start.resolved.root, child, st):
                continue
            yield Entry(child, name, confine.kind_of(st.st_mode), st.st_size, top.depth, fd)
            if not is_dir or not self._descend(top.depth):
                continue
            if self.depth_limit is not None and top.depth >= self.depth_limit:
                self.stats.too_deep.append(child)
                continue
            try:
                sub = os.open(name, confine.DIR_FLAGS, dir_fd=fd)
            except OSError:
                self.stats.unreadable_dirs.append(child)
                continue
            stack.push(self._frame(sub, name, child, top.depth + 1, top.specs))


def remove_tree(parent_fd: int, name: str, cancel: threading.Event | None = None) -> int:
    """Delete the directory ``name`` in ``parent_fd`` and everything below it, deepest first, never
    following a symlink; returns the entries removed (the directory itself included).

    Iterative and descriptor-bounded like the walk, so any depth the filesystem allows is removed. When
    ``cancel`` is set it stops between two entries with a ToolError saying how much was removed."""
    stack = _Stack()
    removed = 0

    def listed(fd: int) -> list[str]:
        try:
            names = os.listdir(fd)
        except BaseException:
            os.close(fd)
            raise
        names.sort(reverse=True)
        return names

    fd = os.open(name, confine.DIR_FLAGS, dir_fd=parent_fd)
    stack.push(_Frame(fd, name, name, 1, [], listed(fd)))
    try:
        while stack.frames:
            if cancel is not None and cancel.is_set():
                raise ToolError(f"stopped: the call was cancelled after {removed} entries were deleted")
            top = stack.frames[-1]
            assert top.fd is not None
            if not top.names:
                frame = stack.pop()
                assert frame.fd is not None
                os.close(frame.fd)
                frame.fd = None
                above = stack.frames[-1].fd if stack.frames else parent_fd
                assert above is not None
                os.rmdir(frame.name, dir_fd=above)
                removed += 1
                continue
            entry = top.names.pop()
            st = confine.lstat_at(top.fd, entry)
            if st is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(entry, confine.DIR_FLAGS, dir_fd=top.fd)
                except OSError:
                    # Swapped for a link or a file since the lstat: remove that, never follow it.
                    os.unlink(entry, dir_fd=top.fd)
                    removed += 1
                    continue
                stack.push(_Frame(sub, entry, f"{top.rel}/{entry}", top.depth + 1, [], listed(sub)))
            else:
                os.unlink(entry, dir_fd=top.fd)
                removed += 1
    finally:
        stack.close()
    return removed
