"""The process supervisor: every process a call starts ends with the call.

A process that moves itself to a new group (``setpgid``) or session (``setsid``), double-forks into a
daemon, closes its output or ignores SIGTERM is out of reach of a group kill. A *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``) is not: an orphan is always re-parented to its nearest living
subreaper ancestor, and nothing a process does to its group, session or descriptors changes that.

This file runs as its own small program (``python -I -S reaper.py FD``: the standard library only, no
site-packages, so it starts in a few milliseconds and carries no state of the server), once per server
process, and forks one supervisor per call:

- the *zygote* (this program's main loop) keeps one supervisor forked in advance, waiting on the Unix
  socket the server sends spawn requests on (one datagram each, with the call's descriptors: stdin,
  stdout, stderr, a status pipe, a lifeline pipe); when that supervisor takes a request the zygote
  forks the next. It exits when the server's end of the socket closes.
- the *supervisor* is a child subreaper; it starts the command (posix_spawn) in a session of its own and
  reports ``E <errno>`` at once if the exec failed. A ``T`` or ``K`` on the lifeline (the server's
  timeout or cancel) sends SIGTERM or SIGKILL to the command's group. When the command exits it kills every
  process still below it (found through ``/proc``: every descendant's chain of parents leads to it),
  reaps them all and reports ``X <wait status> <count killed>``. When the lifeline reaches end of file
  (the server died, even by SIGKILL, or gave up on the call) it kills the command and everything below
  it the same way and exits.

Forking the zygote rather than the server keeps the server's threads and memory out of the child, and
costs a fraction of starting an interpreter per call; forking it ahead of the call takes even that off
the call's path.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
MAX_MESSAGE = 64 * 1024
ALL_SIGNALS = tuple(signal.Signals)  # SIGKILL and SIGSTOP cannot be set; posix_spawn skips them
FDS = 5  # stdin (or -1), stdout, stderr, status (write end), lifeline (read end)


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded once in the zygote, not once per call


def _prctl_subreaper() -> None:
    if _LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _children_map() -> dict[int, list[int]]:
    """ppid -> [pid, ...] for every process in /proc (a snapshot)."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def _descendants(pid: int) -> list[int]:
    kids = _children_map()
    found: list[int] = []
    todo = list(kids.get(pid, ()))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(kids.get(p, ()))
    return found


def _reap_any() -> bool:
    """Reap every exited child; False once there are no children left at all."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def kill_tree() -> int:
    """SIGKILL every process below this one until none is left; the number of processes killed.

    Each round kills what a fresh /proc snapshot shows, so a process forked meanwhile is caught in the
    next round; a killed process forks no more. Orphans come to us (we are their subreaper) and are
    reaped here, so when ``waitpid`` says we have no child, nothing below us lives."""
    if not _reap_any():
        return 0  # the common case: the command left nothing behind, no /proc scan needed
    killed: set[int] = set()
    me = os.getpid()
    while True:
        for pid in _descendants(me):
            if pid not in killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
        if not _reap_any():
            return len(killed)
        time.sleep(0.001)


def _spawn_command(req: dict, fds: list[int]) -> int:
    """Start the command with posix_spawn (a vfork, not a copy of this interpreter): its own session,
    stdin/stdout/stderr from the call, every signal at its default and none blocked. The program is
    looked up in the call's PATH, as ``execvpe`` does; an exec failure raises OSError here."""
    os.chdir(req["cwd"])  # ours to change: this supervisor serves this one command
    stdin = fds[0] if fds[0] >= 0 else os.open(os.devnull, os.O_RDONLY)
    actions = [
        (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_DUP2, fds[1], 1),
        (os.POSIX_SPAWN_DUP2, fds[2], 2),
    ]
    argv, env = req["argv"], req["env"]
    program = argv[0]
    if "/" in program:
        candidates = [program]
    else:
        path = env.get("PATH", os.defpath)
        candidates = [os.path.join(d or ".", program) for d in path.split(os.pathsep)]
    error: OSError | None = None
    for candidate in candidates:
        try:
            return os.posix_spawn(
                candidate,
                argv,
                env,
                file_actions=actions,
                setsid=True,
                setsigdef=ALL_SIGNALS,
                setsigmask=(),
            )
        except (FileNotFoundError, NotADirectoryError) as exc:
            error = error or exc
        except PermissionError as exc:
            error = exc  # as execvp: a later hit may run, else permission denied is the answer
    raise error or FileNotFoundError(2, "No such file or directory")


def _write(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):  # the server is gone: nobody to tell
        os.write(fd, text.encode())


def _prepare_supervisor() -> None:
    """What a supervisor sets up before it has a call, so a call does not wait for it."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the lifeline (or SIGKILL) ends a supervisor
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; we wait for our children
    _prctl_subreaper()


def supervise(req: dict, fds: list[int]) -> None:
    """The per-call supervisor: run the command, then leave nothing behind."""
    status, lifeline = fds[3], fds[4]
    for fd in fds:
        if fd >= 0:
            os.set_inheritable(fd, False)  # only the three dup2'd copies reach the command
    try:
        cpid = _spawn_command(req, fds)
    except OSError as exc:
        _write(status, f"E {exc.errno or 5}\n")
        return
    finally:
        os.chdir("/")  # the supervisor neither holds the workspace open nor passes for part of the call
    for fd in fds[:3]:
        if fd >= 0:
            os.close(fd)
    try:
        watch = os.pidfd_open(cpid)
    except (AttributeError, OSError):
        watch = None
    poller = select.poll()
    poller.register(lifeline, select.POLLIN)
    if watch is not None:
        poller.register(watch, select.POLLIN)
    while True:
        events = poller.poll(None if watch is not None else 50)
        if any(fd == lifeline for fd, _ in events):
            try:
                asked = os.read(lifeline, 16)
            except OSError:
                asked = b""
            if asked:
                # T or K: the server's timeout or cancel; the group first, as without a supervisor.
                sig = signal.SIGKILL if b"K" in asked else signal.SIGTERM
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(cpid, sig)
                continue
            # The server died or gave up on the call: nothing of it may keep running.
            poller.unregister(lifeline)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cpid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(cpid, signal.SIGKILL)
            kill_tree()
            return
        pid, wait_status = os.waitpid(cpid, os.WNOHANG)
        if pid == cpid:
            break
    killed = kill_tree()
    _write(status, f"X {wait_status} {killed}\n")


def _receive(sock: socket.socket) -> tuple[dict, list[int]] | None:
    """One request (a whole datagram: JSON, the call's descriptors); None when the server is gone."""
    try:
        data, ancdata, _, _ = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE((FDS + 1) * 4))
    except OSError:
        return None
    if not data:
        return None
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) - len(payload) % 4]))
    req = json.loads(data)
    if req.get("body_in_memfd"):
        # Too big for one datagram: the request itself is in a memfd, sent as the last descriptor.
        memfd = fds.pop()
        with os.fdopen(memfd, "rb") as fh:
            req = json.loads(fh.read())
    if not req.get("stdin", True):
        fds.insert(0, -1)
    return req, fds


def _warm() -> None:
    """Walk the call's path once without a call. A forked process pays a page fault (a copy) for each
    page of the zygote it first writes, and CPython writes to every object it touches (reference
    counts); doing it here, while idle, takes ~1 ms of faults off the call's path."""
    req = json.loads(json.dumps({"argv": ["/"], "cwd": "/", "env": {"PATH": "/"}, "stdin": False}))
    r, w = os.pipe()
    try:
        for fd in (r, w):
            os.set_inheritable(fd, False)
        with contextlib.suppress(OSError):
            _spawn_command({**req, "cwd": os.getcwd()}, [-1, w, w, w, r])  # "/" cannot be executed
        poller = select.poll()
        poller.register(r, select.POLLIN)
        poller.poll(0)
        _reap_any()
        _write(w, "X 0 0\n")
        os.read(r, 64)
    finally:
        os.close(r)
        os.close(w)


def _idle_supervisor(sock: socket.socket, need_w: int) -> None:
    """A forked supervisor waiting, ready, for the next call: it takes one request, asks the zygote
    for a successor, and serves that call."""
    _prepare_supervisor()
    _warm()
    got = _receive(sock)
    os.write(need_w, b"+")
    os.close(need_w)
    sock.close()
    if got is None:
        return
    req, fds = got
    if len(fds) != FDS:
        return
    supervise(req, fds)


def serve(sock: socket.socket) -> None:
    """The zygote: keeps one supervisor forked and waiting on the socket, and forks the next as soon
    as it takes a call; ends when the server's end of the socket closes."""
    # Every fork copies this process; a garbage collection in a supervisor would touch (and so copy)
    # every page. The zygote makes no reference cycles worth collecting.
    gc.disable()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    need_r, need_w = os.pipe()
    poller = select.poll()
    poller.register(need_r, select.POLLIN)
    poller.register(sock.fileno(), select.POLLRDHUP)  # the server's end closed (never read here)
    wanted = 1
    while True:
        for _ in range(wanted):
            if os.fork() == 0:
                code = 0
                try:
                    os.close(need_r)
                    _idle_supervisor(sock, need_w)
                except BaseException:
                    code = 1
                os._exit(code)
        wanted = 0
        for fd, event in poller.poll():
            if fd == need_r:
                wanted += len(os.read(need_r, 64))
            elif event & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
