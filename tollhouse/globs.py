"""Path and name globs, compiled once to linear-time matchers.

Path globs are ``/``-separated and anchored at a workspace root:
``*`` matches within one segment (dotfiles included), ``?`` one character, ``[abc]`` a class,
and a whole ``**`` segment any number of segments, none included. ``src/**`` also matches ``src``.

Globs come from the operator (policy, grants) but also from the model (``files_find``'s pattern,
``files_search``'s glob), and every glob is matched against text the model chooses (paths, argument
values). Python's ``re`` backtracks: ``*?*?*?…Z`` costs ~4x per extra ``*?`` and holds the GIL, so one
call would freeze every other call and the gate's timeout could not fire. Globs are therefore
translated to regular expressions and run by RE2, whose automaton matches in time linear in the text
for any pattern. The translation stays plain regex text (``path_glob_regex``), so policy explanations
and lint can still show and check it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import re2

MAX_GLOB_CHARS = 4096
"""Longest glob accepted; RE2 needs memory in proportion to the pattern."""

_OPTIONS = re2.Options()
_OPTIONS.dot_nl = True  # as re.DOTALL: a wildcard also covers newlines in argument values
_OPTIONS.never_capture = True
_OPTIONS.log_errors = False
_CASELESS = re2.Options()
_CASELESS.dot_nl = True
_CASELESS.never_capture = True
_CASELESS.log_errors = False
_CASELESS.case_sensitive = False


class GlobError(ValueError):
    """A glob that cannot be compiled (unbalanced class, too long); the message says why."""


def _utf8_safe(text: str) -> str:
    # RE2 matches UTF-8; a lone surrogate (an undecodable byte kept by os.fsdecode) has no UTF-8 form.
    # It becomes U+FFFD: still one character for ``?`` and ``*``, and equal to no literal of a glob.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Matcher:
    """A compiled glob (or union of globs): ``match``/``fullmatch``/``search`` as on ``re.Pattern``,
    returning a truthy match object or None, in time linear in the text."""

    __slots__ = ("_rx", "pattern")

    def __init__(self, pattern: str, caseless: bool = False) -> None:
        self.pattern = pattern
        try:
            self._rx = re2.compile(pattern, _CASELESS if caseless else _OPTIONS)
        except re2.error as exc:
            raise GlobError(f"cannot compile {pattern[:200]!r}: {exc}") from None
        except UnicodeEncodeError:
            raise GlobError("a glob cannot hold an unpaired surrogate character") from None

    def match(self, text: str):  # type: ignore[no-untyped-def]
        try:
            return self._rx.match(text)
        except UnicodeEncodeError:
            return self._rx.match(_utf8_safe(text))

    def fullmatch(self, text: str):  # type: ignore[no-untyped-def]
        try:
            return self._rx.fullmatch(text)
        except UnicodeEncodeError:
            return self._rx.fullmatch(_utf8_safe(text))

    def search(self, text: str):  # type: ignore[no-untyped-def]
        try:
            return self._rx.search(text)
        except UnicodeEncodeError:
            return self._rx.search(_utf8_safe(text))

    def __repr__(self) -> str:
        return f"Matcher({self.pattern!r})"


def _check_length(pattern: str) -> None:
    if len(pattern) > MAX_GLOB_CHARS:
        raise GlobError(f"a glob may hold at most {MAX_GLOB_CHARS} characters (this one has {len(pattern)})")


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            # Consecutive stars mean the same as one; collapsing them keeps the automaton small.
            if not (out and out[-1] == "[^/]*"):
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = segment.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = segment[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\").replace("/", "") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def path_glob_regex(pattern: str) -> str:
    """The regular expression (without anchors) for one path glob."""
    pattern = pattern.strip()
    if pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.strip("/")
    if pattern in ("", "**"):
        return ".*"
    segments = pattern.split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # "a/**" also matches "a"; "**/b" matches "b" at any depth; "a/**/b" matches "a/b".
            parts.append("(?:/.*)?" if last else "(?:.*/)?")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    regex = "".join(parts)
    return regex.replace("/(?:/.*)?", "(?:/.*)?")


def name_glob_regex(pattern: str) -> str:
    """The regular expression (without anchors) for a flat-name glob."""
    out: list[str] = []
    for c in pattern:
        if c == "*":
            if not (out and out[-1] == ".*"):
                out.append(".*")
        else:
            out.append("." if c == "?" else re.escape(c))
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_path_glob(pattern: str) -> Matcher:
    """A path glob; raises GlobError when it cannot be compiled."""
    _check_length(pattern)
    return Matcher(f"^(?:{path_glob_regex(pattern)})$")


@lru_cache(maxsize=4096)
def compile_name_glob(pattern: str) -> Matcher:
    """A glob over a flat name (tool names, argument values): ``*`` and ``?`` match anything.
    ``.pattern`` is ``^…$`` around ``name_glob_regex(pattern)``."""
    _check_length(pattern)
    return Matcher("^" + name_glob_regex(pattern) + "$")


def any_name_matcher(patterns: list[str] | tuple[str, ...], caseless: bool = False) -> Matcher:
    """One matcher (use ``fullmatch``) for any of the name globs."""
    for p in patterns:
        _check_length(p)
    if not patterns:
        return Matcher(r"[^\x00-\x{10FFFF}]")  # matches nothing
    return Matcher("(?:" + "|".join(f"(?:{name_glob_regex(p)})" for p in patterns) + ")", caseless)


def any_path_matcher(patterns: list[str] | tuple[str, ...]) -> Matcher:
    """One matcher for any of the path globs (faster than one match per glob)."""
    if not patterns:
        return Matcher(r"[^\x00-\x{10FFFF}]")  # matches nothing
    for p in patterns:
        _check_length(p)
    body = "|".join(f"(?:{path_glob_regex(p)})" for p in patterns)
    return Matcher(f"^(?:{body})$")
