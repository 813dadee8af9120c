"""Redaction: secrets are replaced before anything is persisted, returned or shown for approval.

Two sources: exact values (configured environment variables, every credential profile's value, read
when the gate opens) and detectors for common token shapes. The detector table is data: each row names
the kind that appears in the placeholder, ``[REDACTED:github-token]``, so a reader of a receipt knows
what was there without seeing it.

One pass: every source reports the spans it finds in the *original* text, overlapping spans merge, and
the text is rebuilt once. ``spans`` exposes that map, so the file tools can tell which bytes of a file a
marker stands for (docs/tools/files.md, "Files under redaction").

Shapes match inside words (``xghp_…x``, ``AKIA…`` glued to text): a prompt-injected command can glue a
letter to a token to step around a word boundary, so no detector anchors on ``\\b``.

Why not detect-secrets: its detectors are line scanners that report a hit (for a private key, only the
``BEGIN`` line), not the span to replace, and importing it pulls ``requests`` onto the server's start-up
path. The shapes below follow its plugins and the vendors' published token formats.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import traceback
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MIN_SECRET_LEN = 6
"""Shorter exact values are not registered: replacing every "abc" would destroy the text around it."""

MARKER_RE = re.compile(r"\[REDACTED:[a-z0-9-]+\]")
"""What every replacement looks like; the file tools treat it as a stand-in for the original bytes."""

WINDOW = 4096
"""How far past an anchor a detector is run when the anchor is rare in a big text. A match that
reaches the window's end is matched again without the limit, so no secret is cut by the window."""


CUT_OVERLAP = 8192
"""How far past a cut the text is searched for a secret that the cut would split. Every cut of
served text (shell output's head and tail, a long line of files_read or files_search) looks this far."""


@dataclass(frozen=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    """Which group is the secret (0: the whole match); the rest of the match is kept."""
    anchors: tuple[str, ...] = ()
    """Lower-case literals one of which every match contains. A regex scan costs ~8 ms per 512 KB
    even when nothing matches; a substring test is a fast C scan, so most detectors are skipped."""
    lead: int | None = 16
    """At most how many characters a match starts before its anchor; None: run over the whole text."""


def _d(
    kind: str, regex: str, group: int = 0, anchors: tuple[str, ...] = (), lead: int | None = 16
) -> Detector:
    return Detector(kind, re.compile(regex), group, anchors, lead)


_PEM_END = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
# Each anchor costs one substring scan of the text (~0.3 ms per 512 KiB), so few and short ones.
_KEY_WORDS = ("api", "access", "private", "passw", "pwd", "secret", "token")

DETECTORS: tuple[Detector, ...] = (
    _d(
        "private-key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:" + _PEM_END + r"|\Z)",
        anchors=("private key",),
        lead=64,
    ),
    # The end of a key whose start was cut off (the tail of a capped stream): base64 up to the END line.
    _d("private-key", r"\A[\sA-Za-z0-9+/=]*" + _PEM_END, anchors=("private key",), lead=None),
    _d(
        "aws-access-key-id",
        r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}",
        anchors=("a3t", "abia", "acca", "akia", "asia"),
    ),
    _d(
        "aws-secret-access-key",
        r"(?i)aws.{0,20}?(?:secret|key|pwd|pw|password|pass|token).{0,20}?[\"'=:\s]([0-9a-zA-Z/+]{40})(?![0-9a-zA-Z/+])",
        1,
        anchors=("aws",),
    ),
    _d(
        "github-token",
        r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}",
        anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    _d("github-token", r"github_pat_[A-Za-z0-9_]{22,255}", anchors=("github_pat_",)),
    _d("gitlab-token", r"glpat-[A-Za-z0-9_\-]{20,}", anchors=("glpat-",)),
    _d("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}", anchors=("xox",)),
    _d("stripe-key", r"[rs]k_(?:live|test)_[0-9A-Za-z]{24,}", anchors=("k_live_", "k_test_")),
    _d("anthropic-key", r"sk-ant-[A-Za-z0-9_\-]{20,}", anchors=("sk-ant-",)),
    # A bare "sk-" is common inside words ("task-runner-…"): standalone it is a key from 20 characters;
    # glued to a word it must look random (digit, upper and lower case) and be 32 or more.
    _d("openai-key", r"(?<![A-Za-z0-9])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", anchors=("sk-",)),
    _d(
        "openai-key",
        r"sk-(?:proj-|svcacct-|admin-)?(?=[\w-]*\d)(?=[\w-]*[A-Z])(?=[\w-]*[a-z])[A-Za-z0-9_\-]{32,}",
        anchors=("sk-",),
    ),
    _d("google-api-key", r"AIza[0-9A-Za-z_\-]{35}", anchors=("aiza",)),
    _d("npm-token", r"npm_[A-Za-z0-9]{36}", anchors=("npm_",)),
    _d("pypi-token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}", anchors=("pypi-",)),
    _d("jwt", r"eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{8,}", anchors=("eyj",)),
    _d(
        "authorization",
        r"(?i)(?:authorization|proxy-authorization)\s*[:=]\s*(?:bearer|token|basic)\s+([A-Za-z0-9._~+/=\-]{8,})",
        1,
        anchors=("authorization",),
        lead=32,
    ),
    # The scheme may start any distance before "://"; a later start finds the same password.
    _d(
        "url-password",
        r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:(?!\[REDACTED:)([^/\s@]+)@",
        1,
        anchors=("://",),
        lead=64,
    ),
    # Anchored on whole key words, not "pass": every "PASSED" line of a test run would wake it.
    _d(
        "password",
        r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth[_-]?token|"
        r"access[_-]?token|private[_-]?key)[\"']?\s*[:=]\s*[\"']?(?!\[REDACTED:)([^\s\"'&,;]{4,})",
        1,
        anchors=_KEY_WORDS,
    ),
)

SENSITIVE_KEYS = re.compile(
    r"(?i)^(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|"
    r"authorization|auth[_-]?token|access[_-]?token|private[_-]?key|credentials?)$"
)


def _sensitive_key(key: str) -> bool:
    """The same few field names recur in every call's arguments, results and details. Only short
    keys are remembered: a client's keys are its own, and long ones must not fill the cache."""
    if len(key) > 64:
        return SENSITIVE_KEYS.match(key) is not None
    return _sensitive_short_key(key)


@functools.lru_cache(maxsize=1024)
def _sensitive_short_key(key: str) -> bool:
    return SENSITIVE_KEYS.match(key) is not None


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` is replaced by ``[REDACTED:kind]``."""

    start: int
    end: int
    kind: str

    @property
    def marker(self) -> str:
        return f"[REDACTED:{self.kind}]"


def _encoded_forms(value: str) -> list[str]:
    """The value as it appears inside JSON text (quotes, backslashes, control and non-ASCII
    characters escaped), so redacting an already-encoded document still finds it."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return sorted(forms, key=len, reverse=True)


class Redactor:
    def __init__(self, patterns: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self._detectors = list(DETECTORS) + [Detector("custom", re.compile(p), lead=None) for p in patterns]
        self._custom = any(d.kind == "custom" for d in self._detectors)
        self._anchors = sorted({a for d in self._detectors for a in d.anchors})
        self._any_anchor = re.compile("|".join(re.escape(a) for a in self._anchors) or r"(?!)")
        self._secrets: set[str] = set()
        self._needles: list[str] = []
        """Every registered value and its JSON-escaped forms, longest first."""
        for s in secrets:
            self.add_secret(s)

    @classmethod
    def from_config(cls, config: Any) -> Redactor:
        values = [os.environ[name] for name in config.redact_env if os.environ.get(name)]
        return cls(patterns=config.redact_patterns, secrets=values)

    @classmethod
    def for_operator(cls, config: Any) -> Redactor:
        """What a CLI command that reads or writes state uses: the configured values and patterns,
        plus every env:/file: credential profile's value (as the gate knows them from its start)."""
        from tollhouse.identity import build_resolver

        redactor = cls.from_config(config)
        build_resolver(config, redactor).register_known()
        return redactor

    def add_secret(self, value: str) -> None:
        """Register an exact secret value (a resolved credential, a configured env var)."""
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) < MIN_SECRET_LEN or value in self._secrets:
            return
        self._secrets.add(value)
        needles = set(self._needles) | set(_encoded_forms(value))
        self._needles = sorted(needles, key=len, reverse=True)

    @property
    def known_count(self) -> int:
        """How many exact values are registered (for `doctor` and tests; never the values)."""
        return len(self._secrets)

    # -- text ------------------------------------------------------------------------------------

    def spans(self, text: str) -> list[Span]:
        """Where the secrets in ``text`` are: sorted, not overlapping (overlaps merge, first kind wins)."""
        if len(text) < MIN_SECRET_LEN and not self._custom:  # shorter than anything we would find
            return []
        if len(text) <= _SHORT and not self._custom:
            # Keys, paths, names: one regex over a short text beats a substring scan per anchor.
            if self._any_anchor.search(text.lower()) is None and not any(n in text for n in self._needles):
                return []
        found: list[tuple[int, int, int, str]] = []  # start, order, end, kind
        for needle in self._needles:  # a C substring search per value beats one regex alternation
            at = text.find(needle)
            while at >= 0:
                found.append((at, 0, at + len(needle), "secret"))
                at = text.find(needle, at + 1)
        lowered = text.lower()
        same_length = len(lowered) == len(text)  # a few characters lower-case to two (İ): then no windows
        hits: dict[str, list[int]] = {}
        for anchor in self._anchors:
            at = lowered.find(anchor)
            if at >= 0:
                hits[anchor] = _positions(lowered, anchor, at)
        if not same_length or any(len(p) >= _MANY for p in hits.values()):
            same_length = False  # scan whole texts: windows would not save time (or would misplace)
        for order, det in enumerate(self._detectors, start=1):
            if det.anchors:
                where = [p for a in det.anchors for p in hits.get(a, ())]
                if not where:
                    continue
            else:
                where = []
            for start, end in self._run(det, text, sorted(where) if same_length else []):
                found.append((start, order, end, det.kind))
        return _merge(found)

    def _run(self, det: Detector, text: str, where: list[int]) -> list[tuple[int, int]]:
        """The secret spans of one detector: over windows after its anchors when they are few, else
        over the whole text (the result is the same; the windows only save time)."""
        n = len(text)
        windows: list[tuple[int, int]] = []
        if det.lead is not None and where:
            for p in where:
                lo, hi = max(0, p - det.lead), min(n, p + WINDOW)
                if windows and lo <= windows[-1][1]:
                    windows[-1] = (windows[-1][0], hi)
                else:
                    windows.append((lo, hi))
        if not windows or sum(hi - lo for lo, hi in windows) * 2 > n:
            windows = [(0, n)]
        out: list[tuple[int, int]] = []
        for lo, hi in windows:
            for m in det.pattern.finditer(text, lo, hi):
                if m.end() == hi < n:  # the window may have cut the match short: match it in full
                    full = det.pattern.match(text, m.start())
                    m = full if full is not None else m
                start, end = m.span(det.group)
                if start >= 0 and end > start:
                    out.append((start, end))
        return out

    def redact_text(self, text: str) -> str:
        spans = self.spans(text)
        return apply_spans(text, spans) if spans else text

    def redact_lines(self, text: str) -> str:
        """``redact_text`` that keeps the line count: a secret over several lines (a key block) becomes
        its marker followed by as many newlines, so line numbers after it stay true."""
        spans = self.spans(text)
        if not spans:
            return text
        parts: list[str] = []
        at = 0
        for span in spans:
            parts += [text[at : span.start], span.marker, "\n" * text.count("\n", span.start, span.end)]
            at = span.end
        parts.append(text[at:])
        return "".join(parts)

    def clear_cut(self, text: str, limit: int) -> int:
        """Where to cut ``text`` to at most ``limit`` characters without splitting a secret: a cut
        inside one moves to its start, so the kept part holds whole secrets (which the gate then
        replaces) or none of it. Only ``CUT_OVERLAP`` characters past the limit are looked at."""
        if len(text) <= limit:
            return len(text)
        for span in self.spans(text[: limit + CUT_OVERLAP]):
            if span.start < limit < span.end:
                return span.start
        return limit

    # -- data ------------------------------------------------------------------------------------

    def redact(self, value: Any) -> Any:
        """Redact every string inside JSON-like data, dict keys included; values under secret-looking
        keys entirely. Returns ``value`` itself (``is``) when nothing changed: a cheap test a store
        can use to keep the text it already encoded."""
        kind = type(value)  # exact types first: this walks every argument, result and detail
        if kind is str:
            return self.redact_text(value)
        if value is None or kind is int or kind is bool or kind is float:
            return value
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return self._redact_dict(value)
        if isinstance(value, list | tuple):
            items = [self.redact(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items
        return value

    def _redact_dict(self, value: dict[Any, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            new_key = key
            if isinstance(key, str):
                new_key = self.redact_text(key)
                if new_key is not key and new_key != key:
                    changed = True
                    n = 2
                    while new_key in out or new_key in value:  # two secret keys must not collapse into one
                        new_key = f"{self.redact_text(key)}#{n}"
                        n += 1
            if isinstance(key, str) and isinstance(item, str) and item and _sensitive_key(key):
                new_item: Any = "[REDACTED:by-key]"
            else:
                new_item = self.redact(item)
            if new_item is not item:
                changed = True
            out[new_key] = new_item
        return out if changed else value


_MANY = 4096
_SHORT = 512


_log_redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
_make_record: Callable[..., logging.LogRecord] | None = None


def redact_logs(redactor: Redactor) -> None:
    """Redact every log record of this process with ``redactor`` (as long as it lives): the message
    with its arguments, and the traceback of ``log.exception`` (a tool's exception text can carry
    what it read). Done when the record is made, so every handler, the stderr fallback included,
    writes only redacted text."""
    global _make_record
    _log_redactors.add(redactor)
    if _make_record is None:
        _make_record = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacted_record)


def _redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _make_record is not None
    record = _make_record(*args, **kwargs)
    redactors = list(_log_redactors)
    if not redactors:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it itself, with the raw arguments unformatted
        return record
    trace = None
    if record.exc_info and record.exc_info[0] is not None:
        trace = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    for redactor in redactors:
        message = redactor.redact_text(message)
        trace = None if trace is None else redactor.redact_text(trace)
    record.msg, record.args = message, None
    if trace is not None:
        record.exc_text = trace  # formatters use it instead of formatting exc_info again
    return record


def _positions(lowered: str, anchor: str, first: int) -> list[int]:
    out = [first]
    at = lowered.find(anchor, first + 1)
    while at >= 0 and len(out) < _MANY:  # at that many the whole text is scanned anyway
        out.append(at)
        at = lowered.find(anchor, at + 1)
    return out


def _merge(found: list[tuple[int, int, int, str]]) -> list[Span]:
    found.sort()
    spans: list[Span] = []
    for start, _order, end, kind in found:
        if spans and start < spans[-1].end:
            last = spans[-1]
            if end > last.end:
                spans[-1] = Span(last.start, end, last.kind)
            continue
        spans.append(Span(start, end, kind))
    return spans


def apply_spans(text: str, spans: list[Span]) -> str:
    parts: list[str] = []
    at = 0
    for span in spans:
        parts.append(text[at : span.start])
        parts.append(span.marker)
        at = span.end
    parts.append(text[at:])
    return "".join(parts)
