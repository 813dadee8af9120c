"""Run one process: its own session, bounded output, streamed lines, and no survivors.

The child starts in a new session, so it and everything it spawns share one process group. However the
run ends (normal exit, timeout, anyio cancellation, a failing progress sink when the client went away),
the ``finally`` block signals the whole group (SIGTERM, a short grace, then SIGKILL) and reaps the
child under a shielded scope. A grandchild left behind by a child that exited normally is killed too:
nothing started by a call outlives it. (A process that calls ``setsid`` itself leaves the group; the
bwrap sandbox's PID namespace catches those as well.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process

from tollhouse.tools.base import ToolError
from tollhouse.tools.shell.output import HeadTail

LineSink = Callable[[int, str], Awaitable[None]]
"""Called with (bytes so far, a recent output line); rate-limited by the caller's interval."""

TERM_GRACE_S = 1.0
MAX_LINE_CHARS = 500


@dataclass
class RunResult:
    returncode: int | None
    timed_out: bool
    duration_ms: int
    stdout: HeadTail
    stderr: HeadTail

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
    """Forwards at most one output line per interval (the newest), so a chatty command cannot flood
    the client with notifications or slow itself down on them."""

    def __init__(self, sink: LineSink | None, interval: float) -> None:
        self.sink = sink
        self.interval = interval
        self.last = 0.0
        self.bytes = 0

    async def chunk(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.sink is None:
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        end = data.rfind(b"\n")
        if end == -1:
            return
        start = data.rfind(b"\n", 0, end) + 1
        line = data[start:end][: MAX_LINE_CHARS * 4].decode("utf-8", errors="replace")[:MAX_LINE_CHARS]
        self.last = now
        await self.sink(self.bytes, line.rstrip("\r"))


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _pump(stream: ByteReceiveStream | None, buffer: HeadTail, lines: _Lines) -> None:
    if stream is None:
        return
    async for data in stream:
        buffer.feed(data)
        await lines.chunk(data)


async def _feed(stream: ByteSendStream | None, data: bytes) -> None:
    if stream is None:
        return
    try:
        for offset in range(0, len(data), 65536):
            await stream.send(data[offset : offset + 65536])
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError):
        pass  # the child stopped reading; its exit status tells the story
    finally:
        await stream.aclose()


async def _end(process: Process, pgid: int) -> None:
    """Signal the whole group, give it a moment, then kill what is left and reap the child."""
    if process.returncode is None:
        _killpg(pgid, signal.SIGTERM)
        with anyio.move_on_after(TERM_GRACE_S):
            await process.wait()
    _killpg(pgid, signal.SIGKILL)
    await process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            await stream.aclose()


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
    try:
        process = await anyio.open_process(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(cwd),
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise ToolError(
            f"program {program_label or argv[0]!r} was not found; check its name, or give its path"
        ) from exc
    except PermissionError as exc:
        raise ToolError(
            f"program {program_label or argv[0]!r} is not executable (permission denied)"
        ) from exc
    except OSError as exc:
        raise ToolError(f"program {program_label or argv[0]!r} could not be started: {exc.strerror}") from exc

    pgid = process.pid  # session leader: its pid is the group id
    out, err = HeadTail(cap), HeadTail(cap)
    lines = _Lines(on_line, line_interval_s)
    timed_out = False
    try:
        with anyio.move_on_after(timeout_s) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pump, process.stdout, out, lines)
                tg.start_soon(_pump, process.stderr, err, lines)
                if stdin is not None:
                    tg.start_soon(_feed, process.stdin, stdin.encode("utf-8"))
                await process.wait()
                # The child is gone; anything still in its group (a backgrounded grandchild) would keep
                # the pipes open and outlive the call.
                _killpg(pgid, signal.SIGKILL)
        timed_out = scope.cancelled_caught
    finally:
        with anyio.CancelScope(shield=True):
            await _end(process, pgid)
    return RunResult(
        returncode=process.returncode,
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        stdout=out,
        stderr=err,
    )
