"""Text an agent wrote, made safe to show a person on a terminal.

What an agent stores (a proposed fact, a case note) is later printed for a person to judge. Raw
control characters would let the agent restyle that screen: ESC sequences recolour, hide or move
text, CR rewrites a line, a newline forges a line of the tool's own output, bidi controls reorder
what is read, zero-width and tag characters hide words. So every such character is shown as a
Python-style escape (``\\x1b``, ``\\r``, ``\\u202e``, ``\\U000e0041``), and a backslash as ``\\\\``, so
an escape can never be mistaken for text the agent typed.

``line`` escapes newlines too (one field on one line); ``block`` keeps newlines and tabs (a
multi-line document such as a case file).
"""

from __future__ import annotations

import unicodedata

# Characters outside the "C" categories that render as nothing or are used to smuggle bytes.
_INVISIBLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors / vowel separator
    (0x2028, 0x2029),  # line and paragraph separators
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _needs_escape(ch: str) -> bool:
    if ch == "\\":
        return True
    cp = ord(ch)
    # C categories: controls (Cc), format incl. bidi, zero-width and tags (Cf), surrogates (Cs),
    # private use (Co), unassigned (Cn: a future invisible character).
    if unicodedata.category(ch)[0] == "C":
        return True
    return any(lo <= cp <= hi for lo, hi in _INVISIBLE_RANGES)


def _escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _show(text: str, keep: str) -> str:
    if text.isprintable() and "\\" not in text and text.isascii():
        return text  # the common case: nothing to look at character by character
    return "".join(_escape(ch) if ch not in keep and _needs_escape(ch) else ch for ch in text)


def line(text: object) -> str:
    """One field for one line: every control, newline and invisible character escaped."""
    return _show(str(text), "")


def block(text: object) -> str:
    """A multi-line text: newlines and tabs kept, every other control or invisible character escaped."""
    return _show(str(text), "\n\t")
