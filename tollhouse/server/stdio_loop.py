"""stdio served by the event loop itself, for the common case where the client gave us pipes.

The SDK's ``stdio_server()`` reads and writes through ``anyio.wrap_file``: every line in and every
line out is a hop to a worker thread and back. Measured over a real pipe, those hops cost about
450 µs of a no-op call's round trip, and while the gate runs the woken reader thread takes the GIL
whenever SQLite releases it. When stdin and stdout are pipes or sockets, asyncio can watch them
directly; we hand the SDK's ``stdio_server`` async line objects over them, so message parsing and
serialisation stay the SDK's. For anything else (a terminal, a regular file) the SDK's own
threaded path is used unchanged.

Like the SDK, the wire is served from private duplicates of fds 0 and 1 while fd 0 reads the null
device and fd 1 writes to stderr, so a child process or a stray ``print`` cannot corrupt it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio

MIN_MESSAGE_BYTES = 16 * 1024 * 1024
READ_CHUNK = 256 * 1024


def message_limit(max_argument_bytes: int) -> int:
    """Bytes one stdio message may take: generous above the argument limit, since JSON escapes
    can take up to six bytes for one character of an argument."""
    return max(MIN_MESSAGE_BYTES, 8 * max_argument_bytes)


def loop_servable() -> bool:
    """True under asyncio when fds 0 and 1 are pipes or sockets it can watch, and stdout is not the
    same file as stderr (making the wire non-blocking would then make stderr non-blocking too)."""
    if os.name != "posix":  # asyncio watches pipes this way on POSIX only
        return False
    try:
        asyncio.get_running_loop()
        st_in, st_out = os.fstat(0), os.fstat(1)
    except (RuntimeError, OSError):  # no asyncio loop (trio), or a closed fd: the SDK's threads
        return False
    if not all(stat.S_ISFIFO(s.st_mode) or stat.S_ISSOCK(s.st_mode) for s in (st_in, st_out)):
        return False
    try:
        st_err = os.fstat(2)
    except OSError:
        return True
    return (st_err.st_dev, st_err.st_ino) != (st_out.st_dev, st_out.st_ino)


class Oversized:
    """Set by the reader when it dropped a line over the limit, read once by whoever answers it."""

    def __init__(self) -> None:
        self.pending: int | None = None

    def take(self) -> int | None:
        value, self.pending = self.pending, None
        return value


class LineReader:
    """Async iterator of text lines from a non-blocking pipe, each at most ``limit`` bytes.

    A longer line is dropped as it arrives (memory stays bounded by the limit plus one chunk) and
    yields one placeholder that cannot parse; ``oversized`` tells the screen why.
    """

    def __init__(self, reader: asyncio.StreamReader, limit: int, oversized: Oversized) -> None:
        self._reader = reader
        self._limit = limit
        self._buf = bytearray()
        self._scanned = 0
        self._dropping = False
        self._eof = False
        self.oversized = oversized

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        while True:
            end = self._buf.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                self._scanned = 0
                if self._dropping:  # the tail of a line already answered as oversized
                    self._dropping = False
                    continue
                if len(line) > self._limit:  # it arrived whole, in one read
                    self.oversized.pending = self._limit
                    return "\n"
                return line.decode("utf-8", "replace")
            if len(self._buf) > self._limit:
                self._buf.clear()
                self._scanned = 0
                if not self._dropping:
                    self._dropping = True
                    self.oversized.pending = self._limit
                    return "\n"  # not JSON: the screen answers it with the reason above
                continue
            self._scanned = len(self._buf)
            if self._eof:
                if self._buf and not self._dropping:
                    line = bytes(self._buf)
                    self._buf.clear()
                    return line.decode("utf-8", "replace")
                raise StopAsyncIteration
            chunk = await self._reader.read(READ_CHUNK)
            if chunk:
                self._buf += chunk
            else:
                self._eof = True


class LineWriter:
    """What the SDK's stdout writer needs: ``write`` buffers in the transport, ``flush`` waits for
    the pipe to take it. A client that went away reads as a closed stream, as in the SDK."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        if self._writer.is_closing():
            raise anyio.ClosedResourceError
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise anyio.ClosedResourceError from exc


def _claim(fd: int) -> int:
    """Move the wire on ``fd`` to a private descriptor and point ``fd`` at a harmless stand-in."""
    import fcntl  # POSIX only, like this whole path (loop_servable says so first)

    private = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    stand_in = os.open(os.devnull, os.O_RDONLY) if fd == 0 else os.dup(2)
    try:
        os.dup2(stand_in, fd)
    finally:
        os.close(stand_in)
    return private


def _release(fd: int, private: int) -> None:
    with suppress(OSError):
        os.set_blocking(private, True)
        os.dup2(private, fd)
    with suppress(OSError):
        os.close(private)


@asynccontextmanager
async def loop_stdio(limit: int) -> AsyncIterator[tuple[LineReader, LineWriter]]:
    """The wire's two ends as async line objects for ``stdio_server(stdin, stdout)``."""
    loop = asyncio.get_running_loop()
    fd_in = _claim(0)
    try:
        fd_out = _claim(1)
    except BaseException:
        _release(0, fd_in)
        raise
    reader = asyncio.StreamReader(limit=READ_CHUNK, loop=loop)
    transports: list[Any] = []
    try:
        # closefd=False: the transports close their file objects, the release below the descriptors.
        read_t, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd_in, "rb", 0, closefd=False)
        )
        transports.append(read_t)
        write_t, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin,  # what asyncio's own writers use: drain() waits on it
            os.fdopen(fd_out, "wb", 0, closefd=False),
        )
        transports.append(write_t)
        writer = asyncio.StreamWriter(write_t, protocol, None, loop)
        yield LineReader(reader, limit, Oversized()), LineWriter(writer)
    finally:
        for transport in transports:
            transport.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run before the fds go back
        _release(1, fd_out)
        _release(0, fd_in)


@asynccontextmanager
async def stdio_streams(limit: int = MIN_MESSAGE_BYTES) -> AsyncIterator[tuple[Any, Any, Oversized | None]]:
    """The SDK's stdio transport for ``Server.run``: over event-loop pipes where the client gave us
    pipes, else the SDK's own threads. Also yields the oversized-line flag (None on the SDK's path,
    which has no limit)."""
    from mcp.server.stdio import stdio_server

    if loop_servable():
        async with loop_stdio(limit) as (lines, out):
            async with stdio_server(lines, out) as (read, write):  # type: ignore[arg-type]
                yield read, write, lines.oversized
    else:
        async with stdio_server() as (read, write):
            yield read, write, None
