"""Markdown link reference definitions and link titles: text GitHub parses and never shows.

``[label]: destination "title"`` renders as nothing. Nobody links to ``[//]``, ``[comment]`` or
``[x]``, so the idiom ``[x]: # (SYSTEM: ...)`` hides a whole line from the person reading the issue
while the model reads every word of it. The label, the destination and the title delimiters
(``"…"``, ``'…'``, ``(…)``) can be anything CommonMark allows, the parts may sit on separate lines,
and the line may be inside a list item or a block quote: so this follows CommonMark's grammar for a
definition rather than matching a few spellings.

What it does with each definition:
- not referenced anywhere in the text: removed (the line ending is kept, so paragraphs stay apart);
- referenced (``[text][label]``, ``[label][]``, ``[label]``): kept, because the link renders, but its
  title is removed: a title is only ever a tooltip.

It errs towards removing: a definition is recognised at any indentation and after any run of
block-quote and list markers (CommonMark would read deep indentation as code), and a destination may
hold unbalanced parentheses, and an empty label counts (it may have held only invisible
characters, which go first). What it removes a person may have seen; what it keeps, they could.

Inline links and images keep their text and destination but lose their title
(``[text](url "SYSTEM: ...")``, ``![alt](src 'title')``): a title is only a tooltip.

Cost: every search is a regex that cannot backtrack, or a lookup in positions found in one pass, so
a megabyte of hostile Markdown is cleaned in linear time.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# Block-quote markers and list markers before a definition; each group starts with a character that
# is not a space, so a line has one way to match (no backtracking on `> > > >`).
_CONTAINERS = re.compile(r"^[ \t]*(?:(?:>|[-+*][ \t]|\d{1,9}[.)][ \t])[ \t]*)*", re.M)
# A line that could start a definition: container markers, then "[" (found at C speed).
_CANDIDATE = re.compile(_CONTAINERS.pattern + r"(?=\[)", re.M)
_LABEL = re.compile(r"\[((?:[^\[\]\\]|\\.){0,999})\]:", re.S)
# Spaces and tabs, then at most one line ending and the next line's indentation and quote markers.
_GAP = re.compile(r"[ \t]*(?:\n[ \t>]*)?")
_POINTY = re.compile(r"<(?:[^<>\\\n]|\\.)*>")
# CommonMark: any run without ASCII spaces or controls (Unicode spaces such as U+00A0 belong to it).
_BARE = re.compile(r"[^\x00-\x20\x7f]+")
_TRAIL = re.compile(r"[ \t]*(?:\n|\Z)")
_BLANK_LINE = re.compile(r"^[ \t>]*$", re.M)
_UNESCAPED_CLOSER = re.compile(r"\\.|[\"')]", re.S)
_REFERENCE = re.compile(r"\[((?:[^\[\]\\]|\\.){1,999})\]", re.S)
_CLOSER = {'"': '"', "'": "'", "(": ")"}


def normalize_label(label: str) -> str:
    """CommonMark's label matching: case-fold, collapse whitespace, trim."""
    return " ".join(label.split()).casefold()


@dataclass
class Definition:
    start: int  # the line's first character (its container markers included)
    keep_end: int  # end of the destination: a referenced definition keeps start..keep_end
    end: int  # end of the definition's last line, its line ending excluded
    label: str


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        # One pass each: where unescaped closers sit, where blank lines start.
        self.closers: dict[str, list[int]] = {'"': [], "'": [], ")": []}
        for m in _UNESCAPED_CLOSER.finditer(text):
            if m.end() - m.start() == 1:
                self.closers[m.group(0)].append(m.start())
        self.blank = [m.start() for m in _BLANK_LINE.finditer(text)]

    def _blank_between(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.blank, lo)
        return i < len(self.blank) and self.blank[i] < hi

    def title_end(self, k: int) -> int | None:
        """End of a title opening at ``k`` (just past its closer), or None if it is not one."""
        closer = _CLOSER.get(self.text[k]) if k < len(self.text) else None
        if closer is None:
            return None
        found = self.closers[closer]
        i = bisect.bisect_right(found, k)
        if i == len(found) or self._blank_between(k, found[i]):
            return None  # a title never spans a blank line
        return found[i] + 1

    def definition_at(self, line_start: int) -> Definition | None:
        text = self.text
        m = _CONTAINERS.match(text, line_start)
        pos = m.end() if m else line_start
        label_m = _LABEL.match(text, pos)
        if label_m is None:
            return None
        label = label_m.group(1)
        # An empty or blank label is not a definition to CommonMark, but one that held only
        # invisible characters (stripped before this runs) was one on GitHub: so it counts.
        if self._blank_between(pos, label_m.end()):
            return None
        gap = _GAP.match(text, label_m.end())
        k = gap.end() if gap else label_m.end()
        dest = _POINTY.match(text, k) or _BARE.match(text, k)
        if dest is None or self._blank_between(label_m.end(), k):
            return None
        keep_end = dest.end()
        # The definition may end after the destination, or after a title on this or the next line.
        plain = _TRAIL.match(text, keep_end)
        gap = _GAP.match(text, keep_end)
        if gap is not None and gap.end() > keep_end:
            title_end = self.title_end(gap.end())
            if title_end is not None:
                trail = _TRAIL.match(text, title_end)
                if trail is not None:
                    return Definition(line_start, keep_end, _line_end(text, title_end), label)
        if plain is not None:
            return Definition(line_start, keep_end, _line_end(text, keep_end), label)
        return None


def _line_end(text: str, k: int) -> int:
    nl = text.find("\n", k)
    return len(text) if nl < 0 else nl


def strip_definitions(text: str) -> tuple[str, int]:
    """Remove unreferenced definitions and the titles of referenced ones; return (text, count)."""
    if "]:" not in text:
        return text, 0
    # Positions are found on a copy where every line ending is one "\n" of the same length (CR LF
    # becomes space + LF), then cut from the original, so CRLF text keeps its bytes.
    scan = text.replace("\r\n", " \n").replace("\r", "\n")
    scanner = _Scanner(scan)
    found: list[Definition] = []
    done = 0  # the end of the last definition: lines inside it are not candidates
    for m in _CANDIDATE.finditer(scan):
        if m.start() < done:
            continue
        d = scanner.definition_at(m.start())
        if d is not None:
            found.append(d)
            done = d.end
    if not found:
        return text, 0
    pieces: list[str] = []
    last = 0
    for d in found:
        pieces.append(scan[last : d.start])
        last = d.end
    rest = "".join(pieces) + scan[last:]
    referenced = {normalize_label(m.group(1)) for m in _REFERENCE.finditer(rest)}
    out: list[str] = []
    last = 0
    count = 0
    for d in found:
        if d.end and text[d.end - 1 : d.end + 1] == "\r\n":
            d.end -= 1  # the CR of a CR LF ending belongs to the ending, which stays
        out.append(text[last : d.start])
        if normalize_label(d.label) in referenced:
            out.append(text[d.start : d.keep_end])
            count += d.end > d.keep_end and bool(text[d.keep_end : d.end].strip())
        else:
            count += 1
        last = d.end
    out.append(text[last:])
    return "".join(out), count


# An inline link's destination: pointy, or a run without spaces whose parentheses balance (one level
# of nesting; deeper nesting is left as it is).
_INLINE_DEST = re.compile(r"<(?:[^<>\\\n]|\\.)*>|(?:[^\x00-\x20()\\]|\\.|\((?:[^\x00-\x20()\\]|\\.)*\))*")
_INLINE_GAP = re.compile(r"[ \t]*\n?[ \t>]*")
_INLINE_OPEN = re.compile(r"\]\(")


def strip_inline_titles(text: str) -> tuple[str, int]:
    """Remove the title of every inline link and image, keeping its text and destination."""
    if "](" not in text:
        return text, 0
    scan = text.replace("\r\n", " \n").replace("\r", "\n")
    scanner = _Scanner(scan)
    cuts: list[tuple[int, int]] = []
    done = 0
    for m in _INLINE_OPEN.finditer(scan):
        if m.start() < done:
            continue
        k = _skip_gap(scan, m.end())
        dest = _INLINE_DEST.match(scan, k)
        if dest is None:
            continue
        gap = _INLINE_GAP.match(scan, dest.end())
        if gap is None or gap.end() == dest.end():
            continue  # a title needs whitespace before it
        title_end = scanner.title_end(gap.end())
        if title_end is None:
            continue
        close = _INLINE_GAP.match(scan, title_end)
        end = close.end() if close else title_end
        if end < len(scan) and scan[end] == ")":
            cuts.append((dest.end(), end))
            done = end
    if not cuts:
        return text, 0
    out: list[str] = []
    last = 0
    for lo, hi in cuts:
        out.append(text[last:lo])
        last = hi
    out.append(text[last:])
    return "".join(out), len(cuts)


def _skip_gap(scan: str, k: int) -> int:
    gap = _INLINE_GAP.match(scan, k)
    return gap.end() if gap else k
