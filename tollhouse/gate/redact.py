"""Redaction: secrets are replaced before anything is persisted, returned or shown for approval.

Two sources: exact values (configured environment variables, credential profiles the moment they are
resolved) and detectors for common token shapes. The detector table is data: each row names the kind
that appears in the placeholder, ``[REDACTED:github-token]``, so a reader of a receipt knows what was
there without seeing it.

Why not detect-secrets: its detectors are line scanners that report a hit (for a private key, only the
``BEGIN`` line), not the span to replace, and importing it pulls ``requests`` onto the server's start-up
path. The shapes below follow its plugins and the vendors' published token formats.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIN_SECRET_LEN = 6
"""Shorter exact values are not registered: replacing every "abc" would destroy the text around it."""


@dataclass(frozen=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    """Which group is the secret (0: the whole match); the rest of the match is kept."""
    anchors: tuple[str, ...] = ()
    """Lower-case literals one of which every match contains. A regex scan costs ~8 ms per 512 KB
    even when nothing matches; a substring test is a fast C scan, so most detectors are skipped."""


def _d(kind: str, regex: str, group: int = 0, anchors: tuple[str, ...] = ()) -> Detector:
    return Detector(kind, re.compile(regex), group, anchors)


DETECTORS: tuple[Detector, ...] = (
    _d(
        "private-key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        anchors=("private key",),
    ),
    _d(
        "aws-access-key-id",
        r"\b(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}\b",
        anchors=("a3t", "abia", "acca", "akia", "asia"),
    ),
    _d(
        "aws-secret-access-key",
        r"(?i)aws.{0,20}?(?:secret|key|pwd|pw|password|pass|token).{0,20}?[\"'=:\s]([0-9a-zA-Z/+]{40})\b",
        1,
        anchors=("aws",),
    ),
    _d(
        "github-token",
        r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
        anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    _d("github-token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", anchors=("github_pat_",)),
    _d("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}\b", anchors=("glpat-",)),
    _d("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", anchors=("xox",)),
    _d("stripe-key", r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{24,}\b", anchors=("k_live_", "k_test_")),
    _d("anthropic-key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}", anchors=("sk-ant-",)),
    _d("openai-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", anchors=("sk-",)),
    _d("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}\b", anchors=("aiza",)),
    _d("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b", anchors=("npm_",)),
    _d("pypi-token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}", anchors=("pypi-",)),
    _d("jwt", r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{8,}", anchors=("eyj",)),
    _d(
        "authorization",
        r"(?i)\b(?:authorization|proxy-authorization)\s*[:=]\s*(?:bearer|token|basic)\s+([A-Za-z0-9._~+/=\-]{8,})",
        1,
        anchors=("authorization",),
    ),
    _d("url-password", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:([^/\s@]+)@", anchors=("://",)),
    _d(
        "password",
        r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth[_-]?token|"
        r"access[_-]?token|private[_-]?key)[\"']?\s*[:=]\s*[\"']?([^\s\"'&,;]{4,})",
        1,
        anchors=("pass", "pwd", "secret", "token", "api", "access", "private", "auth"),
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


class Redactor:
    def __init__(self, patterns: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self._detectors = list(DETECTORS) + [Detector("custom", re.compile(p)) for p in patterns]
        self._custom = any(d.kind == "custom" for d in self._detectors)
        # Each distinct anchor is tested once with a C substring scan (faster at every size than
        # one regex alternation or lookahead over the text), then maps to the detectors it enables.
        self._anchors: list[tuple[str, frozenset[int]]] = [
            (a, frozenset(id(d) for d in self._detectors if a in d.anchors))
            for a in sorted({a for d in self._detectors for a in d.anchors})
        ]
        self._secrets: set[str] = set()
        self._exact: re.Pattern[str] | None = None
        for s in secrets:
            self.add_secret(s)

    @classmethod
    def from_config(cls, config: Any) -> Redactor:
        values = [os.environ[name] for name in config.redact_env if os.environ.get(name)]
        return cls(patterns=config.redact_patterns, secrets=values)

    def add_secret(self, value: str) -> None:
        """Register an exact secret value (a resolved credential, a configured env var)."""
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) < MIN_SECRET_LEN or value in self._secrets:
            return
        self._secrets.add(value)
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._exact = re.compile("|".join(re.escape(s) for s in ordered))

    def redact_text(self, text: str) -> str:
        if len(text) < MIN_SECRET_LEN and not self._custom:  # shorter than anything we would find
            return text
        if self._exact is not None:
            text = self._exact.sub("[REDACTED:secret]", text)
        lowered = text.lower()
        hit: set[int] = set()
        for anchor, detectors in self._anchors:
            if anchor in lowered:
                hit |= detectors
        for det in self._detectors:
            if det.anchors and id(det) not in hit:
                continue
            if det.group == 0:
                text = det.pattern.sub(f"[REDACTED:{det.kind}]", text)
            else:
                text = det.pattern.sub(_replace_group(det), text)
        return text

    def redact(self, value: Any) -> Any:
        """Redact every string inside JSON-like data; values under secret-looking keys entirely."""
        kind = type(value)  # exact types first: this walks every argument, result and detail
        if kind is str:
            return self.redact_text(value)
        if value is None or kind is int or kind is bool or kind is float:
            return value
        if kind is list:
            return [self.redact(v) for v in value]
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and isinstance(item, str) and item and _sensitive_key(key):
                    out[key] = "[REDACTED:by-key]"
                else:
                    out[key] = self.redact(item)
            return out
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        return value


def _replace_group(det: Detector):  # type: ignore[no-untyped-def]
    def sub(match: re.Match[str]) -> str:
        start, end = match.span(det.group)
        if start < 0:
            return match.group(0)
        whole = match.group(0)
        offset = match.start()
        return whole[: start - offset] + f"[REDACTED:{det.kind}]" + whole[end - offset :]

    return sub
