"""The process supervisor: every process a call starts ends with the call.

A process that moves itself to a new group (``setpgid``) or session (``setsid``), double-forks into a
daemon, closes its output or ignores SIGTERM is out of reach of a group kill. A *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER)``) is not: an orphan is always re-parented to its nearest living
subreaper ancestor, and nothing a process does to its group, session or descriptors changes that.

This file runs as its own small program (``python -I -S reaper.py FD``: the standard library only, no
site-packages, so it starts in a few milliseconds and carries no state of the server), once per server
process:

- the *zygote* (this program's main loop) checks once that it can be a subreaper and read ``/proc``
  (else it tells the server, which then falls back to the group kill and says so), forks two
  supervisors that wait on the Unix socket the server sends spawn requests on (one datagram each, with
  the call's descriptors: stdin, stdout, stderr, a status pipe, a lifeline pipe), and forks one more
  whenever the server says its calls in flight outnumber the supervisors (a byte on a second pipe);
  per call it does nothing at all. It is a subreaper too: when a command kills its own
  supervisor (same user, so it may), the command and what it left come to the zygote, which kills
  them. It exits when the server's end of the socket closes.
- a *supervisor* is a child subreaper serving one call at a time, call after call. It starts the
  command (posix_spawn) in a session of its own and reports ``E <errno>`` at once if the exec failed.
  A ``T`` or ``K`` on the lifeline (the server's timeout or cancel) sends SIGTERM or SIGKILL to the
  command's group. When the command exits it kills every process still below it (found through
  ``/proc``: every descendant's chain of parents leads to it), reaps them all and reports
  ``X <wait status> <count killed>``. When the lifeline reaches end of file (the server died, even by
  SIGKILL, or gave up on the call) it kills the command and everything below it the same way.

Forking the zygote rather than the server keeps the server's threads and memory out of the supervisors;
reusing supervisors means a call in the steady state neither waits for nor pays for a fork, and the
zygote is not woken by calls at all (about 0.1 ms per ``shell_run true`` in all, benchmarks/shell.py).
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
# Every signal whose disposition this program changes (Python ignores SIGPIPE and SIGXFSZ; a supervisor
# ignores INT, TERM and HUP): the command gets each back at its default. Ignored dispositions are the
# only ones an exec keeps, so no other signal needs resetting.
RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD)
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


def _descendants(pid: int, spare: frozenset[int] = frozenset()) -> list[int]:
    """Every process below ``pid`` (a /proc snapshot), except the subtrees of ``spare``."""
    kids = _children_map()
    found: list[int] = []
    todo = [k for k in kids.get(pid, ()) if k not in spare]
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


_DEVNULL: list[int] = []


def _devnull() -> int:
    """/dev/null for a command's stdin: opened once per supervisor (close-on-exec, so only the dup2'd
    copy reaches a command), not once per call."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _DEVNULL[0]


def _spawn_command(req: dict, fds: list[int]) -> int:
    """Start the command with posix_spawn (a vfork, not a copy of this interpreter): its own session,
    stdin/stdout/stderr from the call, every signal at its default and none blocked. The program is
    looked up in the call's PATH, as ``execvpe`` does; an exec failure raises OSError here."""
    os.chdir(req["cwd"])  # ours to change while it starts (supervise changes it back)
    stdin = fds[0] if fds[0] >= 0 else _devnull()
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
                setsigdef=RESET_SIGNALS,
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
    _devnull()


def supervise(req: dict, fds: list[int]) -> None:
    """Serve one call: run the command, then leave nothing behind. The caller closes ``fds``
    (entries set to -1 here are closed already)."""
    status, lifeline = fds[3], fds[4]
    try:
        cpid = _spawn_command(req, fds)
    except OSError as exc:
        _write(status, f"E {exc.errno or 5}\n")
        return
    finally:
        os.chdir("/")  # the supervisor neither holds the workspace open nor passes for part of the call
    for i in range(3):  # the command's copies are its own now; ours would hold its output open
        if fds[i] >= 0:
            os.close(fds[i])
            fds[i] = -1
    try:
        watch = os.pidfd_open(cpid)
    except (AttributeError, OSError):
        watch = None
    try:
        _watch(cpid, watch, status, lifeline)
    finally:
        if watch is not None:
            os.close(watch)


def _watch(cpid: int, watch: int | None, status: int, lifeline: int) -> None:
    """Wait for the command's exit or the server's word; then leave nothing behind and report."""
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
        # MSG_CMSG_CLOEXEC: the call's descriptors arrive close-on-exec; only the three dup2'd copies
        # reach the command.
        data, ancdata, _, _ = sock.recvmsg(
            MAX_MESSAGE, socket.CMSG_SPACE((FDS + 1) * 4), socket.MSG_CMSG_CLOEXEC
        )
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


def _supervisor_loop(sock: socket.socket) -> None:
    """A forked supervisor: waits, ready, for a call, serves it and, the call's whole tree reaped and its
    directory left, waits for the next. One fork serves many calls; it ends when the server's end of the
    socket closes. (It tells the zygote nothing: the server counts its calls in flight and asks the
    zygote for one more supervisor when they outnumber the supervisors; see ``serve``.)"""
    _prepare_supervisor()
    while True:
        got = _receive(sock)
        if got is None:
            return
        req, fds = got
        try:
            if len(fds) == FDS:
                supervise(req, fds)
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    if fd >= 0:
                        os.close(fd)


def _reap_ended(supervisors: set[int]) -> None:
    """Collect every child that has ended, forgetting it if it was a supervisor."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        supervisors.discard(pid)


def _adopted(supervisors: set[int]) -> None:
    """Reap ended supervisors; kill every other process that came to the zygote: the command and
    escapees of a supervisor that was killed (a command can SIGKILL its own parent)."""
    _reap_ended(supervisors)
    spare = frozenset(supervisors)
    for _ in range(100):
        strays = _descendants(os.getpid(), spare)
        if not strays:
            return
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)
        _reap_ended(supervisors)  # the strays that were our children


def serve(sock: socket.socket, grow: int, pool: int) -> None:
    """The zygote: keeps ``pool`` supervisors forked, waiting on the socket and serving call after call,
    and forks one more for each byte the server writes on ``grow`` (it does so when its calls in flight
    outnumber the supervisors); ends when the server's end of the socket closes. In the steady state no
    call waits for, or pays for, a fork, and the zygote does nothing per call: it wakes only to grow the
    pool, to replace a supervisor that was killed, and to kill what such a supervisor left behind."""
    # Every fork copies this process; a garbage collection in a supervisor would touch (and so copy)
    # every page. The zygote makes no reference cycles worth collecting.
    gc.disable()
    gc.freeze()
    try:
        # What every supervisor needs, checked once: the server falls back (and says so) without it.
        # (The zygote being a subreaper too catches the tree of a supervisor killed from outside.)
        _prctl_subreaper()
        os.listdir("/proc")
    except OSError as exc:
        sock.send(f"unsupported: {exc}".encode())
        return
    sock.send(b"ready")
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # SIGCHLD wakes the loop: a supervisor ended (reap it), or one was killed from outside and what it
    # supervised came to us, its subreaper (kill that too).
    chld_r, chld_w = os.pipe()
    os.set_blocking(chld_w, False)
    os.set_blocking(chld_r, False)
    signal.set_wakeup_fd(chld_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    poller = select.poll()
    poller.register(grow, select.POLLIN)
    poller.register(chld_r, select.POLLIN)
    # Only the end of the server's socket, never a request: requests are the supervisors' to take.
    poller.register(sock.fileno(), select.POLLRDHUP)
    supervisors: set[int] = set()
    while True:
        for _ in range(pool - len(supervisors)):  # at start, after a grow, or a supervisor was killed
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for fd in (grow, chld_r, chld_w):
                        os.close(fd)
                    _supervisor_loop(sock)
                except BaseException:
                    code = 1
                os._exit(code)
            supervisors.add(pid)
        for fd, event in poller.poll():
            if fd == grow:
                more = os.read(grow, 4096)
                if not more:
                    return  # the server is gone
                pool += len(more)
            elif fd == chld_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(chld_r, 256)
                _adopted(supervisors)
            elif event & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]))
