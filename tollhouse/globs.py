"""Path and name globs, compiled once to regular expressions.

Path globs are ``/``-separated and anchored at a workspace root:
``*`` matches within one segment (dotfiles included), ``?`` one character, ``[abc]`` a class,
and a whole ``**`` segment any number of segments, none included. ``src/**`` also matches ``src``.
"""

from __future__ import annotations

import re
from functools import lru_cache


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
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


@lru_cache(maxsize=4096)
def compile_path_glob(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{path_glob_regex(pattern)})$", re.DOTALL)


@lru_cache(maxsize=4096)
def compile_name_glob(pattern: str) -> re.Pattern[str]:
    """A glob over a flat name (tool names, argument values): ``*`` and ``?`` match anything."""
    out = []
    for c in pattern:
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def any_path_matcher(patterns: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching any of the path globs (faster than one match per glob)."""
    if not patterns:
        return re.compile(r"(?!)")
    body = "|".join(f"(?:{path_glob_regex(p)})" for p in patterns)
    return re.compile(f"^(?:{body})$", re.DOTALL)
