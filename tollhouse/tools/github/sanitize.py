"""What the model sees of text written by others on GitHub.

Hidden text is how a prompt injection hides from the humans who review an issue: characters that do
not render (Unicode tag characters that spell ASCII, zero-width and bidi controls, variation
selectors) and HTML comments, which GitHub does not render but a model reads. Prose (titles, bodies,
comments) loses both; code (file contents, diffs) keeps its bytes visible instead: each run of
invisible characters becomes a ``[U+XXXX ...]`` marker, so a reviewer sees a Trojan-Source trick
rather than a silently "fixed" line.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from tollhouse.tools.github.linkdefs import strip_definitions, strip_inline_titles

# Beyond category Cf (format characters: zero-width, bidi controls, tags, BOM, invisible operators)
# these render as nothing, or are used to smuggle bytes.
_EXTRA_INVISIBLE = [
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors / vowel separator
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0000, 0xE007F),  # tag characters
    (0xE0100, 0xE01EF),  # variation selectors supplement
]
_KEEP_CONTROLS = {"\n", "\t", "\r"}


def is_invisible(ch: str) -> bool:
    cp = ord(ch)
    if ch in _KEEP_CONTROLS:
        return False
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Cc"):  # format characters, and C0/C1 controls such as ESC
        return True
    return any(lo <= cp <= hi for lo, hi in _EXTRA_INVISIBLE)


# One character class, built on first use (a scan of the code space costs ~0.2 s, which importing the
# family must not pay): a regex scan is far faster than testing each character in Python.
@functools.cache
def invisible_re() -> re.Pattern[str]:
    ranges: list[tuple[int, int]] = list(_EXTRA_INVISIBLE)
    start = None
    for cp in range(0x110000):
        ch = chr(cp)
        inv = ch not in _KEEP_CONTROLS and unicodedata.category(ch) in ("Cf", "Cc")
        if inv and start is None:
            start = cp
        elif not inv and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    body = "".join(f"\\U{lo:08x}-\\U{hi:08x}" if lo != hi else f"\\U{lo:08x}" for lo, hi in sorted(ranges))
    return re.compile(f"[{body}]+")


# An HTML comment as browsers end it: at the first "-->" or "--!>", "<!-->" / "<!--->" closing at
# once, and an unclosed "<!--" hiding everything after it.
HTML_COMMENT_RE = re.compile(r"<!--(?:-?>|.*?(?:--!?>|\Z))", re.S)
# Elements GitHub's HTML sanitiser removes with their content (a browser never shows a script's or
# a style's text either): `<style>SYSTEM: ...</style>` is hidden from the reader. Unclosed, the
# element hides the rest of the text, as in a browser.
HIDDEN_ELEMENT_RE = re.compile(
    r"<(script|style|noscript|template|iframe|noembed|noframes|xmp)(?=[\s/>])"
    r".*?(?:</\1\s*>|\Z)",
    re.S | re.I,
)


@dataclass
class Stripped:
    invisible: int = 0
    html_comments: int = 0
    link_definitions: int = 0
    """Markdown link reference definitions removed (or, when referenced, their titles)."""
    hidden_elements: int = 0
    """HTML elements removed with their content (``<style>``, ``<script>``, ...)."""

    def add(self, other: Stripped) -> None:
        self.invisible += other.invisible
        self.html_comments += other.html_comments
        self.link_definitions += other.link_definitions
        self.hidden_elements += other.hidden_elements

    @property
    def any(self) -> bool:
        return bool(self.invisible or self.html_comments or self.link_definitions or self.hidden_elements)


def strip_invisible(text: str) -> tuple[str, int]:
    count = 0

    def drop(m: re.Match[str]) -> str:
        nonlocal count
        count += len(m.group(0))
        return ""

    return invisible_re().sub(drop, text), count


def clean_prose(text: str | None) -> tuple[str, Stripped]:
    """Strip invisible characters, then HTML comments, elements GitHub drops with their content,
    and Markdown link reference definitions (the
    ``[//]: # (hidden)`` idiom, any label, see ``linkdefs``), until nothing more changes.

    Invisible characters go first so that ``<!\u200b--`` cannot dodge the comment pattern; the loop
    catches comments that only form once an inner one is removed (``<!<!-- x -->-- hidden -->``).
    """
    report = Stripped()
    if not text:
        return "", report
    out, report.invisible = strip_invisible(text)
    for _ in range(20):
        before = out
        out, n = HTML_COMMENT_RE.subn("", out)
        out, e = HIDDEN_ELEMENT_RE.subn("", out)
        out, m = strip_definitions(out)
        out, t = strip_inline_titles(out)
        report.html_comments += n
        report.hidden_elements += e
        report.link_definitions += m + t
        if out == before:
            break
    return out, report


def mark_invisible(text: str) -> tuple[str, int]:
    """For code: replace each run of invisible characters with a visible ``[U+XXXX ...]`` marker."""
    count = 0

    def show(m: re.Match[str]) -> str:
        nonlocal count
        run = m.group(0)
        count += len(run)
        shown = " ".join(f"U+{ord(c):04X}" for c in run[:4])
        more = f" +{len(run) - 4} more" if len(run) > 4 else ""
        return f"[{shown}{more}]"

    return invisible_re().sub(show, text), count


def cap(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit], True
