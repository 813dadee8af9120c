"""Run one process: its own session, bounded output, streamed lines, and no survivors.

The child starts in a new session, so it and everything it spawns share one process group. However the
run ends (normal exit, timeout, anyio cancellation, a failing progress sink when the client went away),
the ``finally`` block signals the whole group (SIGTERM, a short grace, then SIGKILL) and reaps the
child under a shielded scope.

On Linux the child is started by a per-call supervisor (``reaper.py``), a child subreaper: when the
command exits, every process still below it is killed, whatever it did to its group or session
(``setpgid``, ``setsid``, double fork, ``nohup … &``, closed descriptors, SIGTERM ignored), and the
result says how many (``killed``). If this process dies, even by SIGKILL, the supervisor's lifeline
pipe reaches end of file and it kills the whole tree. Where the supervisor cannot run (no
``/proc`` or ``prctl``, or ``SUPERVISE`` is off) the group kill is all there is: a process that calls
``setsid`` then leaves it, and the call stops reading the output such a process holds open
``DRAIN_GRACE_S`` after the child exits, and says so (``held_open``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import anyio

from tollhouse.tools.base import ToolError
from tollhouse.tools.shell.output import HeadTail
from tollhouse.tools.shell.supervised import Supervised, SupervisorUnavailable, spawn_supervised

LineSink = Callable[[int, str], Awaitable[None]]
"""Called with (bytes so far, a recent output line); rate-limited by the caller's interval."""

TERM_GRACE_S = 1.0
DRAIN_GRACE_S = 0.5
MAX_LINE_CHARS = 500
READ_SIZE = 256 * 1024
USE_PIDFD = hasattr(os, "pidfd_open")
"""Tests turn this off to run the thread that waits where the kernel has no pidfd."""
SUPERVISE = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
"""Start children through the subreaper supervisor (reaper.py); tests turn it off for the fallback."""
UNSUPERVISED: str | None = None
"""Why the supervisor could not start in this process, once it failed to (then it is not retried)."""
LOST_AFTER_S = 10.0
"""How long after SIGKILL a supervised run waits for its supervisor's report before it gives up."""


@dataclass
class RunResult:
    returncode: int | None
    timed_out: bool
    duration_ms: int
    stdout: HeadTail
    stderr: HeadTail
    held_open: bool = False
    """The command had exited and its group was killed, yet something still held its output pipes
    open: a process that left the group (setsid). It may still be running; what it wrote later was
    not read."""
    killed: int = 0
    """Processes the command left running (in or out of its group) that the supervisor killed."""
    contained: bool = False
    """The run was supervised: no process it started can have outlived it."""

    @property
    def exit_code(self) -> int | None:
        return self.returncode if self.returncode is not None and self.returncode >= 0 else None

    @property
    def signal(self) -> str | None:
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


class _Lines:
    """Picks at most one output line per interval (the newest) to forward, so a chatty command cannot
    flood the client with notifications or slow itself down on them. Output arrives in loop callbacks,
    which cannot await: they leave the newest line here for the waiting call to send."""

    def __init__(self, sink: LineSink | None, interval: float) -> None:
        self.sink = sink
        self.interval = interval
        self.last = 0.0
        self.bytes = 0
        self.pending: tuple[int, str] | None = None
        self.at_line_start = True

    def chunk(self, data: bytes) -> None:
        self.bytes += len(data)
        at_line_start, self.at_line_start = self.at_line_start, data.endswith(b"\n")
        if self.sink is None:
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        end = data.rfind(b"\n")
        if end == -1:
            return
        start = data.rfind(b"\n", 0, end) + 1
        # Only whole lines, never cut here: the gate redacts a progress message and then shortens it
        # (Gate._redacted_progress). A line begun in an earlier chunk, or one too long to send, would
        # carry a piece of a token that no detector recognises.
        if (start == 0 and not at_line_start) or end - start > MAX_LINE_CHARS * 4:
            return
        line = data[start:end].decode("utf-8", errors="replace")
        self.last = now
        self.pending = (self.bytes, line.rstrip("\r"))

    async def send(self) -> bool:
        """Forward the pending line, if any; True when there was one."""
        if self.pending is None or self.sink is None:
            return False
        (done, line), self.pending = self.pending, None
        await self.sink(done, line)
        return True


class _Child:
    """A running child as the event loop sees it: its pipes read in the loop's reader callbacks straight
    into the bounded buffers, stdin written as the child reads it, its exit seen through a pidfd.

    asyncio's subprocess API costs about 200 µs more per command (a fifth of running ``true``): it
    starts a thread per child to wait for it, connects each pipe in a task of its own and wraps it in
    a transport. Where the kernel gives no pidfd (macOS, Linux before 5.3, some seccomp profiles) a
    thread waits for the child here too."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes] | Supervised,
        pipes: dict[int, HeadTail],
        lines: _Lines,
        stdin: tuple[int, bytes] | None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.proc = proc
        self.lines = lines
        self.exited = False
        self.drained = False
        # One event for everything a waiter waits on (exit, end of output, a line to forward); the
        # waiter clears it and then checks the flags, which only loop callbacks change.
        self.wake = asyncio.Event()
        self._watch_exit()  # first: the one step that can fail (no thread to be had), before any callback
        self._pipes = pipes
        for fd, buffer in pipes.items():
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, self._read, fd, buffer)
        self._stdin_fd: int | None = None
        if stdin is not None:
            self._stdin_fd, data = stdin
            self._stdin = memoryview(data)
            os.set_blocking(self._stdin_fd, False)
            self.loop.add_writer(self._stdin_fd, self._write)

    def _read(self, fd: int, buffer: HeadTail) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(fd)
            return
        buffer.feed(data)
        self.lines.chunk(data)
        if self.lines.pending is not None:
            self.wake.set()

    def _close_pipe(self, fd: int) -> None:
        if self._pipes.pop(fd, None) is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
            if not self._pipes:
                self.drained = True
                self.wake.set()

    def _write(self) -> None:
        assert self._stdin_fd is not None
        try:
            sent = os.write(self._stdin_fd, self._stdin)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the child closed its end (EPIPE); its exit status tells the story
            sent = len(self._stdin)
        self._stdin = self._stdin[sent:]
        if not self._stdin:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin_fd is not None:
            self.loop.remove_writer(self._stdin_fd)
            os.close(self._stdin_fd)
            self._stdin_fd = None

    def _watch_exit(self) -> None:
        if isinstance(self.proc, Supervised):
            self.loop.add_reader(self.proc.status_fd, self._status_ready)
            return
        try:
            pidfd = os.pidfd_open(self.proc.pid) if USE_PIDFD else None
        except OSError:
            pidfd = None
        if pidfd is not None:
            self.loop.add_reader(pidfd, self._pidfd_ready, pidfd)
        else:
            threading.Thread(target=self._wait_in_thread, name="tollhouse-child-wait", daemon=True).start()

    def _pidfd_ready(self, pidfd: int) -> None:
        # Reaped by its pid here. (asyncio's deprecated Safe/FastChildWatcher, which reap every child
        # of the process, would take its status first; neither is a default on any Python we support.)
        if self.proc.poll() is None:
            return
        self.loop.remove_reader(pidfd)
        os.close(pidfd)
        self._set_exited()

    def _status_ready(self) -> None:
        assert isinstance(self.proc, Supervised)
        if self.proc.feed():
            self.loop.remove_reader(self.proc.status_fd)
            self._set_exited()

    def _wait_in_thread(self) -> None:
        assert isinstance(self.proc, subprocess.Popen)
        self.proc.wait()
        try:
            self.loop.call_soon_threadsafe(self._set_exited)
        except RuntimeError:  # the loop closed first; nobody is waiting any more
            pass

    def _set_exited(self) -> None:
        self.exited = True
        self.wake.set()

    async def wait_exit(self) -> None:
        while not self.exited:
            self.wake.clear()
            if not self.exited:
                await self.wake.wait()

    def close(self) -> None:
        for fd in list(self._pipes):
            self._close_pipe(fd)
        self._close_stdin()
        if isinstance(self.proc, Supervised):
            if self.proc.status_fd >= 0:
                self.loop.remove_reader(self.proc.status_fd)  # a no-op once the report was read
            self.proc.close()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(child: _Child, pgid: int, sig: signal.Signals) -> None:
    if isinstance(child.proc, Supervised):
        child.proc.signal_group(sig)
    else:
        _killpg(pgid, sig)


async def _finished(child: _Child, pgid: int) -> bool:
    """Forward lines while the child runs; return once it has exited and its output is all read.
    False when the output was still held open ``DRAIN_GRACE_S`` after the child's group was killed."""
    killed_at: float | None = None
    while True:
        child.wake.clear()
        if await child.lines.send():
            continue
        if child.exited and killed_at is None:
            # The child is gone; anything still in its group (a backgrounded grandchild) would keep
            # the pipes open and outlive the call. (A supervisor has killed every such process,
            # in the group or not, before it reported the exit.)
            if not isinstance(child.proc, Supervised):
                _killpg(pgid, signal.SIGKILL)
            killed_at = time.monotonic()
        if child.exited and child.drained:
            return True
        if killed_at is None:
            await child.wake.wait()
            continue
        # What is left in the pipes arrives at once; only a writer outside the group keeps them open.
        left = killed_at + DRAIN_GRACE_S - time.monotonic()
        if left <= 0:
            return False
        with anyio.move_on_after(left):
            await child.wake.wait()


async def _end(child: _Child, pgid: int) -> None:
    """Signal the whole group, give it a moment, then kill what is left and reap the child."""
    if not child.exited:
        _signal(child, pgid, signal.SIGTERM)
        with anyio.move_on_after(TERM_GRACE_S):
            await child.wait_exit()
    _signal(child, pgid, signal.SIGKILL)
    if isinstance(child.proc, Supervised):
        with anyio.move_on_after(LOST_AFTER_S):
            await child.wait_exit()
        if not child.exited:
            # No report: the supervisor is stuck or gone. Closing the lifeline (in close) makes a
            # living one kill the tree; the call must not wait for ever.
            child.proc.returncode = -signal.SIGKILL
            child.proc.lost = True  # never counted free again: the next call gets a fresh supervisor
            child.exited = True
    else:
        await child.wait_exit()
    child.close()


def _spawn(
    argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None
) -> tuple[subprocess.Popen[bytes] | Supervised, int, int, int | None]:
    global UNSUPERVISED
    if SUPERVISE and UNSUPERVISED is None:
        try:
            return spawn_supervised(argv, cwd, env, stdin)
        except SupervisorUnavailable as exc:
            # Said once on stderr and on every result (contained: false), then the group kill only.
            UNSUPERVISED = str(exc)
            print(f"tollhouse: shell commands run without the process supervisor: {exc}", file=sys.stderr)
    return _spawn_direct(argv, cwd, env, stdin)


def _spawn_direct(
    argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None
) -> tuple[subprocess.Popen[bytes], int, int, int | None]:
    """Start the child in a session of its own on fresh pipes; returns it with the parent's ends
    (stdout, stderr, stdin or None). The child's ends are closed here whatever happens."""
    parent: list[int] = []  # ours, closed only if the spawn fails
    child: list[int] = []  # the child's copies, closed here once it has them (or failed to start)
    try:
        out_r, out_w = os.pipe()
        parent.append(out_r), child.append(out_w)
        err_r, err_w = os.pipe()
        parent.append(err_r), child.append(err_w)
        in_r, in_w = os.pipe() if stdin is not None else (subprocess.DEVNULL, None)
        if in_w is not None:
            parent.append(in_w), child.append(in_r)
        proc = subprocess.Popen(
            argv, stdin=in_r, stdout=out_w, stderr=err_w, cwd=cwd, env=env, start_new_session=True
        )
    except BaseException:
        for fd in parent:
            os.close(fd)
        raise
    finally:
        for fd in child:
            os.close(fd)
    return proc, out_r, err_r, in_w


def _raise_start_error(exc: OSError, label: str) -> NoReturn:
    if isinstance(exc, FileNotFoundError):
        raise ToolError(f"program {label!r} was not found; check its name, or give its path") from exc
    if isinstance(exc, PermissionError):
        raise ToolError(f"program {label!r} is not executable (permission denied)") from exc
    raise ToolError(f"program {label!r} could not be started: {exc.strerror}") from exc


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin: str | None,
    timeout_s: float,
    cap: int,
    on_line: LineSink | None = None,
    line_interval_s: float = 0.1,
    program_label: str | None = None,
) -> RunResult:
    started = time.monotonic()
    out, err = HeadTail(cap), HeadTail(cap)
    lines = _Lines(on_line, line_interval_s)
    data = stdin.encode("utf-8") if stdin is not None else None
    label = program_label or argv[0]
    try:
        proc, out_fd, err_fd, in_fd = _spawn(argv, cwd, env, data)
    except OSError as exc:
        _raise_start_error(exc, label)

    try:
        child = _Child(proc, {out_fd: out, err_fd: err}, lines, None if in_fd is None else (in_fd, data))
    except RuntimeError as exc:
        if isinstance(proc, Supervised):
            proc.close()  # the lifeline ends: the supervisor kills and reaps what is left
        else:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for fd in (out_fd, err_fd, in_fd):
            if fd is not None:
                os.close(fd)
        raise ToolError(f"program {label!r} was stopped at once: it could not be watched ({exc})") from exc
    pgid = getattr(proc, "pid", 0)  # session leader: its pid is the group id (the supervisor's to know)
    timed_out = held_open = False
    try:
        with anyio.move_on_after(timeout_s) as scope:
            held_open = not await _finished(child, pgid)
        timed_out = scope.cancelled_caught
    finally:
        if child.exited and isinstance(proc, Supervised):
            # The supervisor has reported: the command and everything it started are dead and
            # reaped, so there is nothing to signal or wait for (and no scope to shield a wait).
            child.close()
        else:
            with anyio.CancelScope(shield=True):
                await _end(child, pgid)
    if isinstance(proc, Supervised) and proc.error is not None:
        _raise_start_error(proc.error, label)
    return RunResult(
        returncode=proc.returncode,
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        stdout=out,
        stderr=err,
        held_open=held_open,
        killed=proc.killed if isinstance(proc, Supervised) else 0,
        contained=isinstance(proc, Supervised),
    )
