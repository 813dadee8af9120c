"""Which process wrote an intent, and whether it still runs.

An identity is ``host:pid:start``. ``start`` tells a live process from a later one that reused its
pid: on Linux it is the boot id prefix and the process start time in clock ticks since boot (from
``/proc``); elsewhere it is ``?`` and only the pid is checked.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

UNKNOWN_START = "?"


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return "noboot"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself hold spaces or ')')."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_token(pid: int) -> str:
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return UNKNOWN_START
    return f"{_boot_id()}-{fields[19]}"  # field 22 of stat (starttime); the list starts at field 3


@functools.cache
def current_identity() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_token(pid)}"


def parse_identity(identity: str) -> tuple[str, int, str] | None:
    parts = identity.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), parts[2]


def is_alive(identity: str | None) -> bool:
    """False only when we can tell the writer has ended; another host's process counts as alive.

    A zombie (ended, not yet reaped by its parent) has ended: it will never write an outcome.
    """
    parsed = parse_identity(identity) if identity else None
    if parsed is None:
        return True  # unknown writer: never close someone else's call on a guess
    host, pid, start = parsed
    if host != socket.gethostname():
        return True
    if not _pid_running(pid):
        return False
    fields = _stat_fields(pid)
    if fields is not None and fields and fields[0] == "Z":
        return False
    if start == UNKNOWN_START:
        return True
    return start_token(pid) == start


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
