"""Bounded capture of one output stream: the first and last bytes, a count and a digest of all of it.

However much a command prints, this holds at most ``cap`` bytes (half head, half tail), so a runaway
``yes`` cannot grow the server's memory. The digest covers every byte, so a receipt can still prove
what was printed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from tollhouse.gate.redact import CUT_OVERLAP, Span, apply_spans

MARKER = (
    "\n[... tollhouse: {omitted} bytes omitted from the middle of this stream (output cap {cap} bytes) ...]\n"
)


# Terminal colour and title sequences carry nothing for a reader; other control characters (NUL from
# binary output, say) become U+FFFD so the text stays printable and its JSON size stays near its length.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# A table, not a regex: binary output is mostly control bytes, and str.translate replaces them in C
# about three times faster than re.sub calling back for each match.
_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F], "\ufffd")


def clean(text: str) -> str:
    return _ANSI.sub("", text).translate(_CONTROL)


OVERLAP = CUT_OVERLAP
"""Bytes kept past each cut: the head is redacted with the next OVERLAP bytes and the tail with the
OVERLAP bytes before it, *then* cut, so a secret of up to OVERLAP bytes placed across a cut is still
seen whole and replaced (two runs with shifted output cannot rebuild it from two halves)."""

Redact = Callable[[str], list[Span]]


class HeadTail:
    def __init__(self, cap: int) -> None:
        self.cap = max(0, cap)
        self.head_cap = self.cap // 2
        self.tail_cap = self.cap - self.head_cap
        self.head = bytearray()
        """The first head_cap + OVERLAP bytes."""
        self.tail = bytearray()
        """The last tail_cap + OVERLAP bytes of what came after the first head_cap bytes."""
        self.total = 0
        self._sha = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        before = self.total
        self.total += len(chunk)
        self._sha.update(chunk)
        room = self.head_cap + OVERLAP - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        rest = chunk[max(0, self.head_cap - before) :]
        if not rest or self.tail_cap == 0:
            return
        keep = self.tail_cap + OVERLAP
        if len(rest) >= keep:
            self.tail[:] = rest[-keep:]
        else:
            self.tail += rest
            excess = len(self.tail) - keep
            if excess > 0:
                del self.tail[:excess]

    @property
    def held(self) -> int:
        """How many bytes of the stream are shown (the rest is omitted from the middle)."""
        return min(self.total, self.cap)

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def text(self, spans: Redact | None = None) -> str:
        """The kept bytes as text: UTF-8, undecodable bytes and control characters (other than tab,
        newline, carriage return) as U+FFFD, ANSI escape sequences removed, a marker where bytes were cut.

        ``spans`` (the redactor's ``spans``) finds secrets, which are replaced *before* the cut: a cut
        that falls inside one moves to its edge, so the marker stands whole on the kept side."""
        if not self.truncated:
            whole = clean(
                (bytes(self.head[: self.head_cap]) + bytes(self.tail)).decode("utf-8", errors="replace")
            )
            return whole if spans is None else apply_spans(whole, spans(whole))
        head_text = clean(bytes(self.head).decode("utf-8", errors="replace"))
        head_len = len(clean(bytes(self.head[: self.head_cap]).decode("utf-8", errors="replace")))
        tail_text = clean(bytes(self.tail).decode("utf-8", errors="replace"))
        tail_len = len(clean(bytes(self.tail[-self.tail_cap :]).decode("utf-8", errors="replace")))
        head = _keep_head(head_text, head_len, spans)
        tail = _keep_tail(tail_text, len(tail_text) - tail_len, spans)
        return head + MARKER.format(omitted=self.total - self.held, cap=self.cap) + tail


def _keep_head(text: str, cut: int, spans: Redact | None) -> str:
    if spans is None:
        return text[:cut]
    found = spans(text)
    for span in found:
        if span.start < cut < span.end:
            cut = span.end  # the marker replaces the whole secret; nothing past it is shown
    return apply_spans(text[:cut], [s for s in found if s.end <= cut])


def _keep_tail(text: str, cut: int, spans: Redact | None) -> str:
    if spans is None:
        return text[cut:]
    found = spans(text)
    for span in reversed(found):
        if span.start < cut < span.end:
            cut = span.start
    kept = [Span(s.start - cut, s.end - cut, s.kind) for s in found if s.start >= cut]
    return apply_spans(text[cut:], kept)
