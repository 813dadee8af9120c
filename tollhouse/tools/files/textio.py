"""Text handling shared by the file tools: what counts as text, encodings, line endings, windows.

Text means UTF-8, with or without a byte-order mark. A file with a NUL byte in its first 8 KiB is
binary; a file that is not valid UTF-8 is refused as text with the offset of the first bad byte.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from tollhouse.gate.redact import CUT_OVERLAP, Redactor
from tollhouse.tools.base import ToolError

BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 8192

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x7fELF", "application/x-elf"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"\x00asm", "application/wasm"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
)


def sniff_type(head: bytes, name: str) -> str:
    """A MIME type from the file's first bytes, else from its name."""
    for signature, mime in _SIGNATURES:
        if head.startswith(signature):
            return mime
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def looks_binary(head: bytes) -> bool:
    return b"\x00" in head[:SNIFF_BYTES]


@dataclass(frozen=True)
class Text:
    text: str
    bom: bool
    newline: str
    """``"\\n"``, ``"\\r\\n"``, ``"mixed"`` or ``"none"``."""

    def encode(self, text: str) -> bytes:
        """Encode ``text`` the way this file was encoded (keeping a byte-order mark)."""
        return (BOM if self.bom else b"") + text.encode("utf-8")


def newline_style(text: str) -> str:
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    if crlf and not lf:
        return "\r\n"
    if lf and not crlf:
        return "\n"
    return "mixed" if crlf else "none"


def decode(data: bytes, rel: str, name: str) -> Text:
    """Decode a whole file as text or explain why it is not text."""
    bom = data.startswith(BOM)
    body = data[len(BOM) :] if bom else data
    if looks_binary(body):
        raise binary_error(rel, sniff_type(data, name), len(data))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(
            f"{rel!r} is not valid UTF-8 text (invalid byte at offset {exc.start + (3 if bom else 0)}); "
            "read it with as_base64=true if you need its bytes"
        ) from None
    return Text(text=text, bom=bom, newline=newline_style(text))


def binary_error(rel: str, mime: str, size: int) -> ToolError:
    return ToolError(
        f"{rel!r} is a binary file ({mime}, {size} bytes); it is not returned as text. "
        "Pass as_base64=true to get its bytes base64-encoded (files up to 1 MiB)"
    )


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept; only ``\\n`` ends a line (never U+2028 or form feeds)."""
    pieces = text.split("\n")
    lines = [p + "\n" for p in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def decode_prefix(data: bytes) -> str:
    """Decode a prefix cut at an arbitrary byte: drop a trailing partial UTF-8 sequence."""
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(data) - 4:
                raise
    return data.decode("utf-8")


@dataclass
class Window:
    content: str
    start_line: int | None
    end_line: int | None
    truncated: bool
    """Output stopped before the end of the requested lines (byte cap or a cut line)."""
    next_offset: int | None
    total_lines: int | None


def clear_prefix(data: bytes, cap: int, redactor: Redactor | None) -> str:
    """The start of one over-long line, at most ``cap`` bytes, never ending inside a secret: the
    gate redacts the result after this cut, and half a token is one no detector would recognise."""
    prefix = decode_prefix(data[:cap])
    if redactor is None or len(data) <= cap:
        return prefix
    wider = decode_prefix(data[: cap + CUT_OVERLAP])
    return wider[: redactor.clear_cut(wider, len(prefix))]


def window(lines: list[str], offset: int, limit: int, cap: int, redactor: Redactor | None = None) -> Window:
    """Lines ``offset..offset+limit-1`` (1-based) of ``lines``, no more than ``cap`` UTF-8 bytes."""
    total = len(lines)
    if offset > max(total, 1):
        raise ToolError(f"offset {offset} is past the end of the file ({total} lines)")
    if offset == 1 and total <= limit:  # the whole file, the common read: one join, one size check
        whole = "".join(lines)
        if len(whole.encode("utf-8")) <= cap:
            return Window(whole, 1 if lines else None, total or None, False, None, total)
    out: list[str] = []
    used = 0
    index = offset - 1
    cut = False
    while index < total and len(out) < limit:
        size = len(lines[index].encode("utf-8"))
        if used + size > cap:
            if not out:  # one line longer than the cap: return its start
                out.append(clear_prefix(lines[index].encode("utf-8"), cap, redactor))
                index += 1
            cut = True
            break
        out.append(lines[index])
        used += size
        index += 1
    more = index < total
    return Window(
        content="".join(out),
        start_line=offset if out else None,
        end_line=offset + len(out) - 1 if out else None,
        truncated=cut,
        next_offset=index + 1 if more else None,
        total_lines=total,
    )


def tail_window(lines: list[str], count: int, cap: int) -> Window:
    total = len(lines)
    out: list[str] = []
    used = 0
    index = total
    cut = False
    while index > 0 and len(out) < count:
        size = len(lines[index - 1].encode("utf-8"))
        if used + size > cap:
            cut = True
            break
        out.append(lines[index - 1])
        used += size
        index -= 1
    out.reverse()
    return Window(
        content="".join(out),
        start_line=index + 1 if out else None,
        end_line=total if out else None,
        truncated=cut,
        next_offset=None,
        total_lines=total,
    )
