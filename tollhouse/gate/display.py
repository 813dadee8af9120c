"""What a person is shown when asked to approve a call: every character they could not see, shown.

An agent chooses the arguments a person approves. A right-to-left override makes ``txt.exe`` read as
``exe.txt``; an ESC sequence restyles or erases a terminal line; zero-width and tag characters carry
text no one sees. Every approver (the MCP elicitation form, the terminal prompt) renders arguments
through ``show_value`` and free text through ``show_text``, so such characters appear as visible
escapes (``\\u202e``) and the text approved is the text seen.
"""

from __future__ import annotations

import json
import unicodedata
from functools import lru_cache
from typing import Any

# Invisible or look-alike characters outside the general categories handled below.
_EXTRA = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFFA0),  # grapheme joiner, fillers
        *range(0xFE00, 0xFE10),  # variation selectors
        *range(0xE0100, 0xE01F0),  # variation selectors supplement
    ]
)
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@lru_cache(maxsize=4096)
def _hidden(c: str) -> bool:
    code = ord(c)
    if code < 0x80:
        return code < 0x20 or code == 0x7F
    category = unicodedata.category(c)
    # Spaces other than U+0020 (no-break, ideographic, en/em ...) look like one but are not.
    return category in _HIDDEN_CATEGORIES or category == "Zs" or code in _EXTRA


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}  # as JSON writes them


def _escape(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def show_text(text: str) -> str:
    """``text`` with every control, bidi, zero-width, tag or odd space character as a visible escape.
    A backslash is doubled, so an escape typed by the agent cannot pass for one made here."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # the common case, untouched
    return "".join("\\\\" if c == "\\" else _escape(c) if _hidden(c) else c for c in text)


def show_value(value: Any) -> str:
    """A JSON value for a person: JSON (its escapes for quotes, backslashes and C0 controls) with every
    other hidden character escaped as well, keys sorted."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(c) if _hidden(c) else c for c in text)
