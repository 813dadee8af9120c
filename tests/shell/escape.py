"""A command that leaves something running in one of the ways a process can leave its group.

Usage: python escape.py MODE PIDFILE [hang]. The escapee writes its pid to PIDFILE (then PIDFILE is
complete), the command waits for that and exits 0 (or, with ``hang``, sleeps until killed).
"""

from __future__ import annotations

import os
import signal
import sys
import time


def record(path: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(str(os.getpid()))
    os.rename(tmp, path)


def close_all() -> None:
    os.closerange(0, 1024)


def escapee(mode: str, path: str) -> None:
    if mode == "setpgid":
        os.setpgid(0, 0)
        close_all_but_record(path)
    elif mode == "setsid":
        os.setsid()
        close_all_but_record(path)
    elif mode == "double_fork":
        os.setsid()
        if os.fork():
            os._exit(0)  # the intermediate exits: the daemon is an orphan
        close_all_but_record(path)
    elif mode == "daemon_closes_all_fds":
        os.setsid()
        if os.fork():
            os._exit(0)
        record(path)
        close_all()
    elif mode == "ignores_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.setpgid(0, 0)
        close_all_but_record(path)
    elif mode == "reexec":
        os.setsid()
        close_all()
        os.execv(sys.executable, [sys.executable, __file__, "reexeced", path])
    elif mode == "reexeced":
        record(path)
    elif mode == "stay":
        close_all_but_record(path)  # stays in the group: the group kill alone reaches it
    while True:
        time.sleep(60)


def close_all_but_record(path: str) -> None:
    record(path)
    close_all()


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "reexeced":
        escapee(mode, path)
    if os.fork() == 0:
        try:
            escapee(mode, path)
        finally:
            os._exit(0)
    while not os.path.exists(path):
        time.sleep(0.005)
    print("started", flush=True)
    if sys.argv[3:] == ["hang"]:
        time.sleep(300)


if __name__ == "__main__":
    main()
