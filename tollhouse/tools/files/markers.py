"""Files under redaction: edits through the redacted view, so a fixture survives read-edit-write.

The model reads a file with its secrets replaced by markers (``[REDACTED:jwt]``). An edit is matched
against that same *view* of the current file, never the raw text:

- a marker in ``old_text`` stands for the secret at that place, so an edit copied from a redacted
  read applies to the original text;
- a marker in ``new_text`` puts back the secret its counterpart in ``old_text`` stood for (the n-th
  ``[REDACTED:jwt]`` of new_text takes the n-th of old_text), so moving or keeping a secret line keeps
  the real value. A marker with no counterpart is refused when the edit touches a secret (tollhouse
  cannot tell which secret it should be); an edit that touches none writes it as plain text;
- a match that would start or end inside a secret is no match: guessing a secret's first characters
  must not be answered by "found once".

A whole-file write cannot be lined up with what it replaces, so ``files_write`` refuses content with a
marker over a file that holds a secret (``check_write``). docs/tools/files.md has the user's side.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.gate.redact import MARKER_RE, Redactor, Span, apply_spans
from tollhouse.tools.base import ToolError


@dataclass
class View:
    """The redacted text of a file and the way back from its offsets to the original's."""

    original: str
    spans: list[Span]
    text: str

    @classmethod
    def of(cls, original: str, redactor: Redactor) -> View:
        spans = redactor.spans(original)
        return cls(original, spans, apply_spans(original, spans) if spans else original)

    def to_original(self, at: int) -> int | None:
        """The original offset of view offset ``at``; None inside a marker that replaced a secret."""
        delta = 0
        for span in self.spans:
            start = span.start + delta
            end = start + len(span.marker)
            if at <= start:
                return at - delta
            if at < end:
                return None
            delta += len(span.marker) - (span.end - span.start)
        return at - delta

    def secrets_in(self, start: int, end: int) -> list[tuple[str, str]]:
        """(marker, original text) of each secret inside original range [start, end), in order."""
        return [
            (s.marker, self.original[s.start : s.end])
            for s in self.spans
            if start <= s.start and s.end <= end
        ]


def _occurrences(view: View, old: str) -> list[tuple[int, int]]:
    """Original ranges of ``old`` in the view; matches cutting into a secret are skipped."""
    out: list[tuple[int, int]] = []
    at = view.text.find(old)
    while at != -1:
        start, end = view.to_original(at), view.to_original(at + len(old))
        if start is not None and end is not None:
            out.append((start, end))
            at = view.text.find(old, at + len(old))  # non-overlapping, as str.replace counts
        else:
            at = view.text.find(old, at + 1)
    return out


def _restore(new: str, secrets: list[tuple[str, str]], number: int) -> str:
    """``new`` with each marker that has a counterpart in the replaced text set back to its secret."""
    pending: dict[str, list[str]] = {}
    for marker, value in secrets:
        pending.setdefault(marker, []).append(value)
    parts: list[str] = []
    at = 0
    for m in MARKER_RE.finditer(new):
        queue = pending.get(m.group(0))
        if queue:
            parts += [new[at : m.start()], queue.pop(0)]
            at = m.end()
        elif secrets:
            raise ToolError(
                f"edit {number}: new_text holds {m.group(0)} more often than old_text does; each marker in "
                "new_text must stand for one in old_text (it puts that secret back), so this edit would "
                "write a marker in place of a real value. Nothing was changed. Keep the markers as they "
                "were read, or write the real value"
            )
    parts.append(new[at:])
    return "".join(parts)


def apply_in_view(
    text: str, old: str, new: str, *, replace_all: bool, number: int, redactor: Redactor
) -> tuple[str, int]:
    """One edit through the redacted view of ``text``; (new text, replacements)."""
    view = View.of(text, redactor)
    found = _occurrences(view, old)
    if not found:
        raise ToolError(
            f"edit {number}: old_text was not found; nothing was changed. Read the file again "
            "(files_read) and copy the exact text, including whitespace and indentation (a "
            "[REDACTED:...] marker stands for the secret at its place)"
        )
    if len(found) > 1 and not replace_all:
        lines = ", ".join(str(text.count("\n", 0, s) + 1) for s, _ in found[:5])
        raise ToolError(
            f"edit {number}: old_text matches {len(found)} times (lines {lines}); nothing was changed. "
            "Include more surrounding text to make it unique, or set replace_all=true"
        )
    chosen = found if replace_all else found[:1]
    for start, end in reversed(chosen):  # from the end, so earlier offsets stay valid
        text = text[:start] + _restore(new, view.secrets_in(start, end), number) + text[end:]
    return text, len(chosen)


def check_write(rel: str, content: str, current: str | None, redactor: Redactor | None) -> None:
    """Refuse a whole-file write that would replace a secret on disk with a marker."""
    if redactor is None or current is None:
        return
    marker = MARKER_RE.search(content)
    if marker is None:
        return
    held = redactor.spans(current)
    if held:
        raise ToolError(
            f"content holds {marker.group(0)}, and {rel!r} holds a secret that reads show as "
            f"{held[0].marker}; writing it would replace the real value with the marker. Nothing was "
            "changed. Change the file with files_edit (a marker in old_text and new_text stands for the "
            "secret at its place), or write the real value"
        )
