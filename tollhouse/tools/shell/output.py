"""Bounded capture of one output stream: the first and last bytes, a count and a digest of all of it.

However much a command prints, this holds at most ``cap`` bytes (half head, half tail), so a runaway
``yes`` cannot grow the server's memory. The digest covers every byte, so a receipt can still prove
what was printed.
"""

from __future__ import annotations

import hashlib

MARKER = (
    "\n[... tollhouse: {omitted} bytes omitted from the middle of this stream (output cap {cap} bytes) ...]\n"
)


class HeadTail:
    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.head_cap = self.cap // 2
        self.tail_cap = self.cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._sha = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._sha.update(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk or self.tail_cap == 0:
            return
        if len(chunk) >= self.tail_cap:
            self.tail[:] = chunk[-self.tail_cap :]
        else:
            self.tail += chunk
            excess = len(self.tail) - self.tail_cap
            if excess > 0:
                del self.tail[:excess]

    @property
    def held(self) -> int:
        return len(self.head) + len(self.tail)

    @property
    def truncated(self) -> bool:
        return self.total > self.held

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def text(self) -> str:
        """The kept bytes as text: UTF-8, undecodable bytes as U+FFFD, a marker where bytes were cut."""
        head = bytes(self.head).decode("utf-8", errors="replace")
        if not self.truncated:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", errors="replace")
        tail = bytes(self.tail).decode("utf-8", errors="replace")
        return head + MARKER.format(omitted=self.total - self.held, cap=self.cap) + tail
