"""The server's side of the per-call supervisor (``reaper.py``): starting a command through it, and
the handle the runner watches. See reaper.py for what the supervisor guarantees."""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

REAPER = Path(__file__).with_name("reaper.py")
READY_TIMEOUT_S = 10.0
POOL = 2
"""Supervisors the zygote keeps forked and waiting, at least; more while more calls run at once."""
MAX_DATAGRAM = 60 * 1024
"""Largest request sent as one datagram; a bigger one (a long argv or environment) goes in a memfd."""


class Supervised:
    """A command started by the supervisor, seen as ``subprocess.Popen`` is: once the supervisor has
    reported its exit, ``returncode``. ``status_fd`` carries the supervisor's one report (``X`` the
    exit, or ``E`` the exec failed); ``lifeline`` is ours alone: ``T``/``K`` on it ask for SIGTERM or
    SIGKILL to the command's group, and its end (closed, or this process dead) makes the supervisor
    kill the whole tree."""

    def __init__(self, status_fd: int, lifeline: int, zygote: _Zygote | None = None) -> None:
        self.status_fd = status_fd
        self.lifeline = lifeline
        self.zygote = zygote
        self.lost = False
        """No report came: the supervisor may be stuck, so it is never counted free again."""
        self.returncode: int | None = None
        self.killed = 0
        self.error: OSError | None = None
        self._buf = b""

    def feed(self) -> bool:
        """Read the supervisor's report; True once it is complete (or the supervisor is gone)."""
        try:
            data = os.read(self.status_fd, 256)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        self._buf += data
        for line in self._buf.split(b"\n")[:-1]:
            kind, *rest = line.split()
            if kind == b"X" and len(rest) == 2:
                self.returncode = os.waitstatus_to_exitcode(int(rest[0]))
                self.killed = int(rest[1])
                return True
            if kind == b"E" and len(rest) == 1:
                code = int(rest[0]) or 5
                self.error = OSError(code, os.strerror(code))
                return True
        if data:
            return False
        self.returncode = -signal.SIGKILL  # the supervisor was killed: so was (or will be) its child
        return True

    def signal_group(self, sig: signal.Signals) -> None:
        if self.lifeline >= 0:
            try:
                os.write(self.lifeline, b"T" if sig == signal.SIGTERM else b"K")
            except OSError:
                pass  # the supervisor is gone, and with it the tree

    def close(self) -> None:
        for fd in (self.status_fd, self.lifeline):
            if fd >= 0:
                os.close(fd)
        self.status_fd = self.lifeline = -1
        if self.zygote is not None:
            if not self.lost:
                self.zygote.release()
            self.zygote = None


class SupervisorUnavailable(OSError):
    """The supervisor cannot run here (no prctl subreaper, no /proc): the reason."""


class _Zygote:
    """The one supervisor-forking process of this server process (started on first use)."""

    lock = threading.Lock()
    current: _Zygote | None = None

    def __init__(self) -> None:
        # Datagrams: the zygote's waiting supervisor takes exactly one whole request.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        grow_r, grow_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(REAPER), str(theirs.fileno()), str(grow_r), str(POOL)],
                pass_fds=[theirs.fileno(), grow_r],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's Ctrl-C to our group must not reach it
                env={},
            )
        except BaseException:
            ours.close()
            os.close(grow_w)
            raise
        finally:
            theirs.close()
            os.close(grow_r)
        self.sock = ours
        self.grow = grow_w
        self.owner = os.getpid()
        self.supervisors = POOL
        self.in_flight = 0
        try:
            ours.settimeout(READY_TIMEOUT_S)
            hello = ours.recv(256)
            ours.settimeout(None)
        except OSError as exc:
            hello = f"no answer ({exc})".encode()
        if hello != b"ready":
            ours.close()
            os.close(grow_w)
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait()
            raise SupervisorUnavailable(hello.decode("utf-8", "replace") or "it exited at once")

    @classmethod
    def get(cls) -> _Zygote:
        z = cls.current
        if z is None or z.owner != os.getpid() or z.proc.poll() is not None:
            if z is not None and z.owner == os.getpid():
                z.close()
            z = cls.current = cls()
        return z

    def close(self) -> None:
        """Let this zygote go: its waiting supervisors see the socket's end and exit, and so does it."""
        if self.grow >= 0:
            self.sock.close()
            os.close(self.grow)
            self.grow = -1

    def submit(self, request: bytes, fds: list[int]) -> None:
        """Count the call and send it (under ``lock``). When the calls in flight outnumber the
        supervisors, one byte first asks the zygote for one more, so a request never waits for a busy
        supervisor; the zygote itself hears nothing per call."""
        self.in_flight += 1
        if self.in_flight > self.supervisors:
            with contextlib.suppress(OSError):  # the zygote died: the send fails too, and is retried
                os.write(self.grow, b"+")
            self.supervisors += 1
        try:
            self.send(request, fds)
        except BaseException:
            self.in_flight -= 1  # not sent: no supervisor took it
            raise

    def release(self) -> None:
        """A call's supervisor has reported (or died): it serves the next request."""
        with self.lock:
            self.in_flight -= 1

    def send(self, request: bytes, fds: list[int]) -> None:
        if len(request) <= MAX_DATAGRAM:
            self.sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array_of(fds))])
            return
        # A request bigger than one datagram (a long argv or environment) travels in a memfd.
        memfd = os.memfd_create("tollhouse-spawn", os.MFD_CLOEXEC)
        try:
            view = memoryview(request)
            while view:
                view = view[os.write(memfd, view) :]
            os.lseek(memfd, 0, os.SEEK_SET)
            marker = b'{"body_in_memfd": true}'
            self.sock.sendmsg([marker], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array_of([*fds, memfd]))])
        finally:
            os.close(memfd)


def array_of(fds: list[int]) -> bytes:
    return array.array("i", fds).tobytes()


def spawn_supervised(
    argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None
) -> tuple[Supervised, int, int, int | None]:
    """As ``_spawn``, through the supervisor. Raises OSError as Popen would (errno of the exec)."""
    parent: list[int] = []  # ours, closed only if the spawn fails
    child: list[int] = []  # the supervisor's copies, closed here once sent
    try:
        in_w: int | None = None
        if stdin is not None:
            in_r, in_w = os.pipe()
            parent.append(in_w), child.append(in_r)
        # The supervisor's order: stdin (when there is one), stdout, stderr, status, lifeline. (os.pipe
        # makes descriptors that no exec inherits.)
        out_r, out_w = os.pipe()
        parent.append(out_r), child.append(out_w)
        err_r, err_w = os.pipe()
        parent.append(err_r), child.append(err_w)
        # Non-blocking from the start (the loop reads it); the supervisor's one short report always
        # fits an empty pipe, so its end being non-blocking too changes nothing.
        status_r, status_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        parent.append(status_r), child.append(status_w)
        life_r, life_w = os.pipe()
        parent.append(life_w), child.append(life_r)
        request = json.dumps(
            {"argv": argv, "cwd": os.fspath(cwd), "env": env, "stdin": stdin is not None}
        ).encode()
        with _Zygote.lock:
            zygote = _Zygote.get()
            try:
                zygote.submit(request, child)
            except OSError:
                zygote.close()  # it died: start another, once
                _Zygote.current = None
                zygote = _Zygote.get()
                zygote.submit(request, child)
        for fd in child:
            os.close(fd)
        child.clear()
        # No wait for the exec here: its failure comes back as the supervisor's one report.
        proc = Supervised(status_r, life_w, zygote)
    except BaseException:
        for fd in parent + child:
            os.close(fd)
        raise
    return proc, out_r, err_r, in_w
