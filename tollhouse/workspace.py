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

# Always immutable, whatever the config says: the state directory (receipts, grants, keys) and the
# config file itself. A tool cannot change the rules it runs under or the record of what it did.
BUILTIN_IMMUTABLE = (".tollhouse/**",)


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
                if not rel:  # the root itself (a cwd of "."): the root is already resolved
                    return ResolvedPath(root=roots[index], rel=".", abs=roots[index])
                return ResolvedPath(root=roots[index], rel=rel, abs=Path(texts[index], rel))
            resolved = Path(os.path.realpath(candidate))
        except OSError as exc:  # a link that changed while it was being resolved, a loop
            raise PathError(f"path {raw!r} cannot be resolved: {exc.strerror or exc}") from exc
        root = self.containing_root(resolved, roots)
        if root is None:
            raise PathError(f"path {raw!r} is outside the workspace roots")
        rel = resolved.relative_to(root).as_posix()
        return ResolvedPath(root=root, rel=rel or ".", abs=resolved)

    def is_immutable(self, path: ResolvedPath) -> bool:
        # On strings: this runs for every path of every writing call, and Path comparisons cost more.
        text = os.fspath(path.abs)
        if text == self._config_text:
            return True
        if text == self._state_text or text.startswith(self._state_text + "/"):
            return True
        return bool(self._immutable.match(path.rel))
