"""A bounded, descriptor-based tree walk shared by files_list, files_find and files_search.

Directories are opened relative to their parent's descriptor with ``O_NOFOLLOW``: a symlink is listed
as a symlink and never entered, and a directory swapped for a link mid-walk fails to open (it is
skipped, not followed). ``.gitignore`` files from the root down are honoured when asked; ``.git`` is
then skipped as git itself does. The walk stops after ``max_scan`` entries so a huge tree cannot make
a call unbounded.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pathspec

from tollhouse.tools.base import ToolError
from tollhouse.tools.files import confine
from tollhouse.workspace import PathJudge

GITIGNORE_MAX_BYTES = 1024 * 1024


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


def _load_gitignore(dir_fd: int) -> pathspec.GitIgnoreSpec | None:
    try:
        fd, _ = confine.open_regular_at(dir_fd, ".gitignore", ".gitignore")
    except (ToolError, OSError):
        return None  # absent, or not a regular file: nothing to honour
    try:
        data = confine.read_all(fd, GITIGNORE_MAX_BYTES)[:GITIGNORE_MAX_BYTES]
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


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
    ) -> None:
        self.start = start
        self.judge = judge
        """Policy's per-path judgement (``ctx.judge``): an entry it withholds is neither returned nor
        entered, and is counted by the judge."""
        self.max_depth = max_depth
        self.gitignore = gitignore
        self.max_scan = max_scan
        self.cancel = cancel
        self.stats = WalkStats()

    def _ignored(self, specs: list[tuple[str, pathspec.GitIgnoreSpec]], rel: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in specs:
            sub = rel if base == "" else rel[len(base) + 1 :]
            result = spec.check_file(sub + "/" if is_dir else sub)
            if result.include is not None:
                verdict = result.include
        return verdict

    def _ancestor_specs(self) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []
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

    def __iter__(self) -> Iterator[Entry]:
        """Entries in pre-order, names sorted; raises OSError if the start cannot be opened."""
        root_fd = confine.walk_dirs(self.start.resolved.root, self.start.parts)
        specs = self._ancestor_specs() if self.gitignore else []
        base = "" if self.start.is_root else self.start.rel
        yield from self._walk(root_fd, base, 1, specs)

    def _walk(
        self, fd: int, rel: str, depth: int, specs: list[tuple[str, pathspec.GitIgnoreSpec]]
    ) -> Iterator[Entry]:
        try:
            if self.gitignore:
                spec = _load_gitignore(fd)
                if spec is not None:
                    specs = [*specs, (rel, spec)]
            names: list[str] = []
            with os.scandir(fd) as it:
                for dirent in it:
                    self.stats.scanned += 1
                    if self.stats.scanned > self.max_scan:
                        self.stats.capped = True
                        break
                    names.append(dirent.name)
            names.sort()
            for name in names:
                if self.cancel is not None and self.cancel.is_set():
                    return
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    self.stats.skipped_undecodable += 1
                    continue
                if self.gitignore and name == ".git":
                    continue
                child = name if rel == "" else f"{rel}/{name}"
                st = confine.lstat_at(fd, name)
                if st is None:
                    continue  # vanished since the listing
                is_dir = stat.S_ISDIR(st.st_mode)
                if specs and self._ignored(specs, child, is_dir):
                    continue
                if self.judge is not None and self.judge.withhold(self.start.resolved.root, child, st):
                    continue
                yield Entry(child, name, confine.kind_of(st.st_mode), st.st_size, depth, fd)
                if is_dir and (self.max_depth is None or depth < self.max_depth) and not self.stats.capped:
                    try:
                        sub = os.open(name, confine.DIR_FLAGS, dir_fd=fd)
                    except OSError:
                        self.stats.unreadable_dirs.append(child)
                        continue
                    yield from self._walk(sub, child, depth + 1, specs)
        finally:
            os.close(fd)
