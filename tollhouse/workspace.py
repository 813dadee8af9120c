"""Workspace roots and the paths inside them, as policy sees them.

Containment is decided on fully resolved paths by path components, never by string prefix. This is
the policy's view (which rule matches which path); the file tools additionally open through directory
descriptors so that a path swapped after this check still cannot escape.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tollhouse.globs import any_path_matcher

# Always immutable, whatever the config says: the state directory (receipts, grants, keys), the
# config file itself, and every ``.git`` at any depth (a directory, or a file redirecting to another
# git dir) and ``.gitmodules``: git runs hooks, ``core.fsmonitor`` and friends from whichever repo it
# discovers, so a ``src/.git/config`` an agent wrote would be code the next ``git status`` runs.
# Git on Linux honours exactly ``.git`` (``.GIT`` is not discovered; tests/files/test_sealing.py runs it).
BUILTIN_IMMUTABLE = (".tollhouse/**", "**/.git/**", "**/.gitmodules")
STATE_GLOBS = (".tollhouse/**",)
"""Never reachable by any tool (read, list, search, stat), on top of being immutable."""


class PathError(ValueError):
    """A path argument that is malformed or leads outside every workspace root."""


@dataclass(frozen=True)
class ResolvedPath:
    root: Path
    rel: str
    """POSIX path relative to ``root``; ``"."`` for the root itself."""
    abs: Path


def check_raw_path(raw: str) -> None:
    if not isinstance(raw, str) or raw == "":
        raise PathError("path must be a non-empty string")
    if "\x00" in raw:
        raise PathError("path contains a NUL byte")
    if len(raw.encode("utf-8", "surrogatepass")) > 4096:
        raise PathError("path is longer than 4096 bytes")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PathError("path is not valid UTF-8") from exc


def _below_root(candidate: str, roots: tuple[str, ...]) -> tuple[int, str] | None:
    """The fast path for the common case: a plain relative path under an already-resolved root.

    ``realpath`` lstats every component from ``/``; here only those below the root are checked, on
    strings (building ``Path`` objects costs more than the syscalls saved). Any ``..``, ``.``, empty
    component or symlink below the root returns None and the caller falls back to ``realpath``.
    Returns (index of the root, path relative to it).
    """
    for index, prefix in enumerate(roots):
        if not candidate.startswith(prefix + "/"):
            continue
        # Empty and "." components name the directory they are in, as realpath reads them.
        parts = [p for p in candidate[len(prefix) + 1 :].split("/") if p and p != "."]
        if ".." in parts:
            return None
        rest = "/".join(parts)
        current = prefix
        for part in parts:
            current = current + "/" + part
            try:
                if stat.S_ISLNK(os.lstat(current).st_mode):
                    return None
            except FileNotFoundError:
                break  # the rest does not exist, so it cannot hold a link
        return index, rest
    return None


class Workspace:
    def __init__(
        self,
        roots: list[Path],
        immutable: list[str] | tuple[str, ...] = (),
        *,
        config_file: Path | None = None,
        state_dir: Path | None = None,
        secret_files: tuple[Path, ...] = (),
    ) -> None:
        if not roots:
            raise ValueError("a workspace needs at least one root")
        self.roots: tuple[Path, ...] = tuple(Path(os.path.realpath(r)) for r in roots)
        self._root_texts = tuple(os.fspath(r) for r in self.roots)
        self.state_dir = Path(os.path.realpath(state_dir or self.roots[0] / ".tollhouse"))
        self.config_file = Path(os.path.realpath(config_file)) if config_file else None
        self.immutable_globs: tuple[str, ...] = tuple(immutable) + BUILTIN_IMMUTABLE
        self._immutable = any_path_matcher(self.immutable_globs)
        self._state_text = os.fspath(self.state_dir)
        self._config_text = os.fspath(self.config_file) if self.config_file else None
        self.secret_files = tuple(Path(os.path.realpath(p)) for p in secret_files)
        """Files the config names as credential sources (``file:PATH``): the config's own secrets."""
        self._secret_texts = frozenset(os.fspath(p) for p in self.secret_files)
        self._state_rx = any_path_matcher(STATE_GLOBS)
        self._sealed: tuple[str, ...] | None = None

    def sealed_dirs(self) -> tuple[str, ...]:
        """Absolute folders no tool may reach: the state dir and the operator's home (keys, trust).

        The operator home is looked up on first use (``TOLLHOUSE_HOME``, else the XDG config folder)
        and kept; it normally lies outside every root, and this only matters when it does not."""
        dirs = self._sealed
        if dirs is None:
            from tollhouse.opdirs import operator_home

            home = operator_home()
            if any(root == home or root.is_relative_to(home) for root in self.roots):
                # The workspace lies inside the operator's home: seal what the home keeps, not the
                # whole of it (which would seal the workspace itself).
                homes = (os.fspath(home / "trust"), os.fspath(home / "workspaces"))
            else:
                homes = (os.fspath(home),)
            dirs = self._sealed = (self._state_text, *homes)
        return dirs

    def sealed_why(self, path: ResolvedPath, dirs: tuple[str, ...] | None = None) -> str | None:
        """Why ``path`` is state no tool may reach (read, list, search, stat, write), or None."""
        text = os.fspath(path.abs)
        for sealed in dirs if dirs is not None else self.sealed_dirs():
            if text == sealed or text.startswith(sealed + "/"):
                return "the state directory or the operator's home (databases, keys, tokens)"
        if self._state_rx.match(path.rel):
            return "the state directory (databases, keys, tokens)"
        if text in self._secret_texts:
            return "a credential file named by the config"
        return None

    def anchor(self, path: Path) -> ResolvedPath | None:
        """``path`` (already resolved) relative to the operator's root holding it.

        Policy globs and immutable globs are always matched on this: a client's announced root only
        decides which paths a call may reach, never what a path is called."""
        root = self.containing_root(path)
        if root is None:
            return None
        rel = path.relative_to(root).as_posix()
        return ResolvedPath(root=root, rel=rel or ".", abs=path)

    @property
    def root(self) -> Path:
        return self.roots[0]

    def effective_roots(self, client_roots: tuple[str, ...] | None) -> tuple[Path, ...]:
        """The operator's roots narrowed by a client's announced roots (never widened)."""
        if client_roots is None:
            return self.roots
        narrowed: list[Path] = []
        for raw in client_roots:
            client = Path(os.path.realpath(raw))
            for root in self.roots:
                if client.is_relative_to(root):
                    narrowed.append(client)
                elif root.is_relative_to(client):
                    narrowed.append(root)
        return tuple(dict.fromkeys(narrowed))

    def containing_root(self, path: Path, roots: tuple[Path, ...] | None = None) -> Path | None:
        for root in roots if roots is not None else self.roots:
            if path == root or path.is_relative_to(root):
                return root
        return None

    def resolve(self, raw: str, roots: tuple[Path, ...] | None = None) -> ResolvedPath:
        """Resolve a path argument (relative to the first root, or absolute inside a root).

        Symlinks in existing components are followed; raises ``PathError`` when the result is
        outside every root.
        """
        check_raw_path(raw)
        roots = roots if roots is not None else self.roots
        if not roots:
            raise PathError("no workspace root is available to this call")
        texts = self._root_texts if roots is self.roots else tuple(os.fspath(r) for r in roots)
        candidate = raw if raw.startswith("/") else texts[0] + "/" + raw
        try:
            fast = _below_root(candidate, texts) if os.sep == "/" else None
            if fast is not None:
                index, rel = fast
                if roots is self.roots or roots[index] in self.roots:
                    if not rel:  # the root itself (a cwd of "."): the root is already resolved
                        return ResolvedPath(root=roots[index], rel=".", abs=roots[index])
                    return ResolvedPath(root=roots[index], rel=rel, abs=Path(texts[index], rel))
                resolved = Path(texts[index], rel) if rel else roots[index]
            else:
                resolved = Path(os.path.realpath(candidate))
        except OSError as exc:  # a link that changed while it was being resolved, a loop
            raise PathError(f"path {raw!r} cannot be resolved: {exc.strerror or exc}") from exc
        if self.containing_root(resolved, roots) is None:
            raise PathError(f"path {raw!r} is outside the workspace roots")
        # Named relative to the operator's root, even when a client root narrowed the call.
        anchored = self.anchor(resolved)
        if anchored is None:  # a client root outside every operator root never survives narrowing
            raise PathError(f"path {raw!r} is outside the workspace roots")
        return anchored

    def is_immutable(self, path: ResolvedPath) -> bool:
        # On strings: this runs for every path of every writing call, and Path comparisons cost more.
        text = os.fspath(path.abs)
        if text == self._config_text:
            return True
        if self.sealed_why(path) is not None:
            return True
        if text == self._state_text or text.startswith(self._state_text + "/"):
            return True
        return bool(self._immutable.match(path.rel))


class PathJudge:
    """Which paths one call may open, list, search or stat: every file a walking tool meets is judged
    like a path argument of the same call, so deny means deny for every file a tool touches.

    The gate builds one per call from its decision (``tollhouse.gate.policy_paths.PolicyPathJudge``:
    the policy's deny and ask rules on top of these built-ins) and hands it to the tool as
    ``ctx.judge``; a tool run without a gate still gets this built-in-only judge (fail closed). A walker
    calls ``withhold`` for each entry before it opens or returns it, and skips the entry (and, for a
    folder, everything below it) when it answers a rule id. Withheld entries are counted per rule, so
    the result can tell the model what it was not shown (``note``).
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.sealed = workspace.sealed_dirs()
        self.withheld: dict[str, int] = {}
        self._inodes: frozenset[tuple[int, int]] | None = None

    def rule_for(self, path: ResolvedPath) -> str | None:
        """The rule that withholds ``path`` (root-relative as policy names it), or None. Not counted."""
        if self.workspace.sealed_why(path, self.sealed) is not None:
            return "workspace.state"
        return None

    def withhold(self, root: Path, rel: str, st: os.stat_result | None = None) -> str | None:
        """The rule withholding ``root/rel`` (counted), or None. With ``st``, a hard link to a state
        file is withheld too, whatever its name: the state is the one place judged by inode as well."""
        rule = self.rule_for(ResolvedPath(root, rel, Path(os.fspath(root) + "/" + rel)))
        if rule is None and st is not None and st.st_nlink > 1 and self._is_state_inode(st):
            rule = "workspace.state"
        if rule is not None:
            self.withheld[rule] = self.withheld.get(rule, 0) + 1
        return rule

    def _is_state_inode(self, st: os.stat_result) -> bool:
        if self._inodes is None:
            found: set[tuple[int, int]] = set()
            for sealed in self.sealed:
                for dirpath, _dirs, files in os.walk(sealed):
                    for name in files:
                        try:
                            s = os.lstat(os.path.join(dirpath, name))
                        except OSError:
                            continue
                        if stat.S_ISREG(s.st_mode):
                            found.add((s.st_dev, s.st_ino))
            self._inodes = frozenset(found)
        return (st.st_dev, st.st_ino) in self._inodes

    @property
    def count(self) -> int:
        return sum(self.withheld.values())

    def note(self) -> str | None:
        """What the model must be told about entries it was not shown."""
        if not self.withheld:
            return None
        n = self.count
        rules = ", ".join(sorted(self.withheld))
        what = "entry was" if n == 1 else "entries were"
        return (
            f"{n} {what} withheld by policy (rule{'s' if len(self.withheld) > 1 else ''} {rules}): "
            "not listed, opened or searched; a withheld folder counts once"
        )
