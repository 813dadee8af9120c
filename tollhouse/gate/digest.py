"""Canonical JSON (RFC 8785) and digests of arguments and results."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785


def canonical_json(value: Any) -> str:
    """RFC 8785 text of JSON data. Integers outside JSON's safe range (which RFC 8785 refuses) fall
    back to sorted-key JSON, still deterministic."""
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.IntegerDomainError, rfc8785.FloatDomainError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()
