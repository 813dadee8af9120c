"""Bounded capture of one output stream: the first and last bytes, a count and a digest of all of it.

However much a command prints, this holds at most ``cap`` bytes (half head, half tail), so a runaway
``yes`` cannot grow the server's memory. The digest covers every byte, so a receipt can still prove
what was printed.
"""

from __future__ import annotations

import hashlib
import re

MARKER = (
    "\n[... tollhouse: {omitted} bytes omitted from the middle of this stream (output cap {cap} bytes) ...]\n"
)


# Terminal colour and title sequences carry nothing for a reader; other control characters (NUL from
# binary output, say) become U+FFFD so the text stays printable and its JSON size stays near its length.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    return _CONTROL.sub("\ufffd", _ANSI.sub("", text))


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
        """The kept bytes as text: UTF-8, undecodable bytes and control characters (other than tab,
        newline, carriage return) as U+FFFD, ANSI escape sequences removed, a marker where bytes were cut."""
        if not self.truncated:
            return clean((bytes(self.head) + bytes(self.tail)).decode("utf-8", errors="replace"))
        head = clean(bytes(self.head).decode("utf-8", errors="replace"))
        tail = clean(bytes(self.tail).decode("utf-8", errors="replace"))
        return head + MARKER.format(omitted=self.total - self.held, cap=self.cap) + tail
