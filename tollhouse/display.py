"""Text an agent chose, made safe to show a person.

What an agent writes (a proposed fact, a case note, the arguments of a call awaiting approval) is
later read by a person who judges it. Raw control characters would let the agent restyle that
screen: ESC sequences recolour, hide or move text, CR rewrites a line, a newline forges a line of the
tool's own output, bidi controls reorder what is read (``txt.exe`` shown as ``exe.txt``), zero-width
and tag characters hide words, odd spaces pass for ordinary ones. One judgement of which characters
are hidden serves every place text is shown; each is written as a visible escape, and a backslash is
doubled so an escape the agent typed cannot pass for one made here.

Two spellings: ``line``/``block`` write Python-style escapes (``\\x1b``, ``\\u202e``) for terminal
output; ``show_text``/``show_value`` write JSON-style ones (``\\u001b``) for approval prompts, whose
arguments are shown as JSON.
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from typing import Any

# Invisible or look-alike characters outside the general categories judged below.
_EXTRA = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0),  # grapheme joiner, fillers
        *range(0x180B, 0x1810),  # Mongolian variation selectors and vowel separator
        *range(0xFE00, 0xFE10),  # variation selectors
        *range(0xE0100, 0xE01F0),  # variation selectors supplement
    ]
)
# Controls, format (bidi, zero-width, tags), surrogates, private use, unassigned (a future invisible
# character), line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@lru_cache(maxsize=4096)
def hidden(c: str) -> bool:
    """Whether a person could not see ``c`` for what it is."""
    code = ord(c)
    if code < 0x80:
        return code < 0x20 or code == 0x7F
    category = unicodedata.category(c)
    # Spaces other than U+0020 (no-break, ideographic, en/em ...) look like one but are not.
    return category in _HIDDEN_CATEGORIES or category == "Zs" or code in _EXTRA


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and "\\" not in text


# -- terminal output --------------------------------------------------------------------------------

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _py_escape(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


def _show(text: str, keep: str) -> str:
    if _plain(text):
        return text  # the common case: nothing to look at character by character
    return "".join(
        "\\\\" if ch == "\\" else _py_escape(ch) if ch not in keep and hidden(ch) else ch for ch in text
    )


def line(text: object) -> str:
    """One field for one line: every control, newline and invisible character escaped."""
    return _show(str(text), "")


def block(text: object) -> str:
    """A multi-line text: newlines and tabs kept, every other control or invisible character escaped."""
    return _show(str(text), "\n\t")


# -- approval prompts -------------------------------------------------------------------------------

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}  # as JSON writes them


def _json_escape(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def show_text(text: str) -> str:
    """Free text for an approval prompt, every hidden character as a JSON-style escape."""
    if _plain(text):
        return text
    return "".join("\\\\" if c == "\\" else _json_escape(c) if hidden(c) else c for c in text)


def show_value(value: Any) -> str:
    """A JSON value for a person: JSON (its escapes for quotes, backslashes and C0 controls) with every
    other hidden character escaped as well, keys sorted."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if text.isascii() and text.isprintable():
        return text
    return "".join(_json_escape(c) if hidden(c) else c for c in text)


# -- tables on a terminal ---------------------------------------------------------------------------

_STYLES = {
    "ok": "32", "allow": "32", "error": "31", "deny": "31", "denied": "1;31", "needs_approval": "33",
    "ask": "33", "timeout": "33", "cancelled": "2", "interrupted": "35", "pending": "36",
}  # fmt: skip


def colour_on(stream: Any) -> bool:
    """Colour only for a person at a terminal: never into a pipe or file, never under NO_COLOR
    (https://no-color.org: any non-empty value) or TERM=dumb."""
    import os

    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def table(
    header: list[str], rows: list[list[str]], *, colour: bool = False, styled: tuple[int, ...] = ()
) -> str:
    """Aligned columns; with ``colour``, the cells of the ``styled`` columns coloured by their value
    (ok green, denied red ...). Cells must already be escaped with ``line``."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def cell(i: int, text: str, head: bool) -> str:
        padded = text.ljust(widths[i])
        if colour and head:
            return f"\x1b[1m{padded}\x1b[0m"
        style = _STYLES.get(text) if colour and i in styled else None
        return f"\x1b[{style}m{text}\x1b[0m{padded[len(text) :]}" if style else padded

    return "\n".join(
        "  ".join(cell(i, c, r is header) for i, c in enumerate(r)).rstrip() for r in [header, *rows]
    )
