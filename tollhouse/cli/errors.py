"""Expected failures of any command, turned into one message and one exit code (never a traceback).

``guarded(body)`` runs a whole command, parsing included. It knows three families:

- the reader of our output went away (``tollhouse receipts tail | head``): stop writing, say nothing,
  and exit 141 as ``cat`` or ``git`` would (128 + SIGPIPE);
- the disk said no (read-only file system, no permission, no space or quota, file too large): the
  message names the folder, says that nothing was lost, and what to do. A lower layer's own advice
  ("move it aside") is dropped here, because for a full or read-only disk it would only lose state;
- a command's own refusal (CommandError, ConfigError, a receipt or state store that cannot be used).

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tollhouse.cli import exitcodes

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
READONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_SQLITE_FULL = ("database or disk is full", "disk quota")
_SQLITE_READONLY = ("readonly database", "read-only", "attempt to write a readonly")
_SQLITE_AMBIGUOUS = ("disk i/o error", "unable to open database file")
# A path quoted in a message: a word holding a slash (absolute, ./relative or dir/file).
_PATH = re.compile(r"(?<![\w/.])((?:\.{1,2}/|/|[\w.-]+/)[^\s:;,()'\"`]*)")

KEEP = "Do not delete or move .tollhouse/ to fix this: it holds the signed receipts."


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _paths(exc: BaseException) -> list[Path]:
    """Paths the error names (OSError.filename, or absolute paths quoted in its message)."""
    found: list[Path] = []
    for e in _chain(exc):
        if isinstance(e, OSError):
            for name in (e.filename, e.filename2):
                if name:
                    found.append(Path(os.fsdecode(name)))
        found.extend(Path(m.rstrip(".")) for m in _PATH.findall(str(e)))
    return [p if p.is_absolute() else Path.cwd() / p for p in found]


def _existing_folder(path: Path) -> Path | None:
    for candidate in (path, *path.parents):
        try:
            if candidate.is_dir():
                return candidate
        except OSError:
            continue
    return None


def probe(path: Path) -> str | None:
    """ "full" or "readonly" when the file system holding ``path`` is so; None when it looks fine."""
    folder = _existing_folder(path)
    if folder is None:
        return None
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return "readonly"
    if st.f_bavail == 0 or (st.f_favail == 0 and st.f_files):
        return "full"
    if not os.access(folder, os.W_OK):
        return "readonly"
    return None


def disk_trouble(exc: BaseException) -> tuple[str, Path | None] | None:
    """("full" | "readonly", the folder concerned) when ``exc`` comes from the disk refusing a write."""
    kind: str | None = None
    ambiguous = False
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in FULL_ERRNOS:
            kind = "full"
        elif isinstance(e, OSError) and e.errno in READONLY_ERRNOS:
            kind = kind or "readonly"
        elif isinstance(e, sqlite3.Error):
            text = str(e).lower()
            if any(s in text for s in _SQLITE_FULL):
                kind = "full"
            elif any(s in text for s in _SQLITE_READONLY):
                kind = kind or "readonly"
            elif any(s in text for s in _SQLITE_AMBIGUOUS):
                ambiguous = True
        if kind == "full":
            break
    if kind is None and not (ambiguous or _is_store_error(exc) or _has_oserror(exc)):
        return None  # a refusal of our own (bad arguments, bad config): the disk is not the story
    paths = _paths(exc)
    # SQLite reports a full disk while growing its WAL index as a plain I/O error, and our stores
    # word their own refusals: ask the file system itself about every folder the error names.
    where: Path | None = None
    for path in paths:
        seen = probe(path)
        if seen is None:
            continue
        if kind is None and (ambiguous or _is_store_error(exc)):
            kind = seen
        if seen == kind:
            where = _existing_folder(path)
            break
    if kind is None:
        return None
    return kind, where


def _has_oserror(exc: BaseException) -> bool:
    return any(isinstance(e, OSError | sqlite3.Error) for e in _chain(exc))


def _is_store_error(exc: BaseException) -> bool:
    return any(type(e).__name__ in ("ReceiptStoreError", "StateError") for e in _chain(exc))


def disk_message(kind: str, where: Path | None) -> str:
    place = f" ({where})" if where else ""
    if kind == "full":
        return (
            f"the disk is full{place}. Free some space on that disk (`df -h` shows it), then run the "
            f"command again; `tollhouse receipts verify` checks that the record is whole. {KEEP}"
        )
    return (
        f"cannot write{place}: the folder or its file system is read-only or not yours. Make it "
        "writable again (remount it read-write, or `chmod u+w` the folder as its owner), then run the "
        f"command again; reading commands (`receipts tail`, `receipts verify`) work meanwhile. {KEEP}"
    )


def explain(exc: BaseException) -> tuple[str, int] | None:
    """The message and exit code for an expected failure; None for a bug."""
    from tollhouse.cli.common import CommandError
    from tollhouse.config import ConfigError
    from tollhouse.receipts.errors import ReceiptStoreError
    from tollhouse.state.db import StateError

    disk = disk_trouble(exc)
    if disk is not None:
        return disk_message(*disk), exitcodes.STORE_UNUSABLE
    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, ConfigError):
        return str(exc), exitcodes.USAGE
    if isinstance(exc, ReceiptStoreError | StateError):
        return str(exc), exitcodes.STORE_UNUSABLE
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return (
            f"a database is locked by another process ({exc}); nothing was changed. Retry when it "
            "finishes, or stop the process that holds it."
        ), exitcodes.STORE_UNUSABLE
    return None


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _broken_pipe(exc: BaseException) -> bool:
    return any(
        isinstance(e, BrokenPipeError) or (isinstance(e, OSError) and e.errno == errno.EPIPE)
        for e in _chain(exc)
    )


def guarded(body: Callable[[], int]) -> int:
    """Run a command; every expected failure becomes a line on stderr and a documented exit code."""
    try:
        code = body()
        sys.stdout.flush()  # a pipe closed early shows up here for short outputs
        return code
    except KeyboardInterrupt:
        _say("interrupted")
        return exitcodes.CANCELLED
    except SystemExit as exc:  # argparse's --help and usage errors; flush inside the guard
        try:
            sys.stdout.flush()
        except OSError as flush_exc:
            if _broken_pipe(flush_exc):
                _silence_stdout()
                return exitcodes.BROKEN_PIPE
            raise
        raise exc
    except Exception as exc:
        if _broken_pipe(exc):
            _silence_stdout()
            return exitcodes.BROKEN_PIPE
        known = explain(exc)
        if known is None:
            raise
        message, code = known
        _say(message)
        return code


def _say(message: str) -> None:
    try:
        print(f"tollhouse: {message}", file=sys.stderr)
    except OSError:
        pass  # stderr gone too: the exit code still tells
