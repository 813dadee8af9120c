"""Receipt format v2: a long argument value is kept as its digest and a redacted head.

A string longer than the limit (in UTF-8 bytes) becomes ``{"sha256": <hex of the value as given>,
"bytes": <its length>, "head": <the start of its *redacted* form>}``. The digest lets whoever holds the
real content (a file that was written) show it is the one the call carried; the head says what it was
without storing it again. The head is cut from the redacted text, never the other way round, so a
secret is never split past recognition.
"""

from __future__ import annotations

import hashlib
from typing import Any

HEAD_CHARS = 256


def compact(raw: Any, redacted: Any, limit: int) -> Any:
    """``redacted`` with each string over ``limit`` bytes replaced by a digest of the ``raw`` one.

    ``raw`` and ``redacted`` have the same shape (the redactor only changes strings, and values under
    secret-looking keys); where they differ in shape, the redacted value is kept as it is."""
    if type(redacted) is str:
        encoded = redacted.encode("utf-8", "surrogatepass")
        if len(encoded) <= limit:
            return redacted
        source = raw if type(raw) is str else redacted
        data = source.encode("utf-8", "surrogatepass")
        return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "head": redacted[:HEAD_CHARS]}
    if type(redacted) is dict:
        raw_d = raw if type(raw) is dict else {}
        return {k: compact(raw_d.get(k), v, limit) for k, v in redacted.items()}
    if type(redacted) is list:
        raw_l = raw if type(raw) is list and len(raw) == len(redacted) else [None] * len(redacted)
        return [compact(r, v, limit) for r, v in zip(raw_l, redacted, strict=True)]
    return redacted


def longest_string(value: Any) -> int:
    """Length (in characters) of the longest string inside JSON-like data: a cheap first test."""
    if type(value) is str:
        return len(value)
    if type(value) is dict:
        return max((longest_string(v) for v in value.values()), default=0)
    if type(value) is list:
        return max((longest_string(v) for v in value), default=0)
    return 0
