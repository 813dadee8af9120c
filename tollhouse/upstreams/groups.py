"""Finding and killing a stdio upstream's process group.

The MCP SDK starts a stdio server in a session of its own (so its pid is its process group id) and,
when the connection closes, kills that group only if the server does not exit within its grace
period. A server that exits at once can leave behind what it started (a browser, a helper). So
tollhouse learns the group when the upstream starts (its child that leads a new session and runs the
upstream's argv; Linux ``/proc``) and kills what is left of it after every stop, and at once when a
call hangs. Where ``/proc`` is missing the SDK's own shutdown is all there is.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def session_children() -> dict[int, list[str]]:
    """This process's children that lead a session of their own: pid -> argv."""
    me = os.getpid()
    out: dict[int, list[str]] = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return out
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != me or int(fields[3]) != int(entry.name):
                continue
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        out[int(entry.name)] = [a.decode("utf-8", "replace") for a in argv if a]
    return out


def find_group(before: dict[int, list[str]], argv: tuple[str, ...]) -> int | None:
    """The group of the upstream started since ``before`` (matched by its argv)."""
    for pid, cmdline in session_children().items():
        if (
            pid not in before
            and cmdline[1:] == list(argv[1:])
            and Path(cmdline[0]).name == Path(argv[0]).name
        ):
            return pid
    return None


def kill_group(pgid: int | None) -> bool:
    """SIGKILL every process left in the group; True if any was there."""
    if pgid is None or pgid <= 1:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        return True
    return False
