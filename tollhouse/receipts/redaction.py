"""One redaction pass, not two: a redactor that remembers the texts it has just produced.

The gate redacts what the model sees (a result, its excerpt, the arguments) and the receipt store
redacts every field again on the way in, so nothing unredacted can be stored whatever a caller
forgot. Most fields the store gets are texts the same redactor has just produced; redacting them
again costs as much as the first time (a 2 KiB excerpt: tens of microseconds). ``MemoRedactor``
remembers its recent outputs, and hands such a text back as it is: it has passed this redactor.

Structured fields (arguments, rules, details) arrive as JSON text that the store decodes, walks and
compares: the texts that came through unchanged are remembered too, with what they decode to (only
short ones, so the memory stays small), and are not decoded or walked again.

The memory is cleared whenever a secret is added (a credential resolved later), since a text that
was clean before may hold the new secret.
"""

from __future__ import annotations

from typing import Any

from tollhouse.gate.redact import Redactor

MEMO_SIZE = 1024
JSON_MEMO_MAX_CHARS = 2048


class MemoRedactor(Redactor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._clean: dict[str, None] = {}  # insertion-ordered: the oldest goes first
        self.clean_json: dict[str, Any] = {}
        """JSON text that redacts to itself -> its decoded value (never mutated by the store)."""
        super().__init__(*args, **kwargs)

    def add_secret(self, value: str) -> None:
        self._clean.clear()
        self.clean_json.clear()
        super().add_secret(value)

    def remember_clean_json(self, text: str, decoded: Any) -> None:
        if len(text) > JSON_MEMO_MAX_CHARS:
            return
        clean = self.clean_json
        if len(clean) >= MEMO_SIZE:
            del clean[next(iter(clean))]
        clean[text] = decoded

    def redact_text(self, text: str) -> str:
        clean = self._clean
        if text in clean:
            return text
        out = super().redact_text(text)
        if len(clean) >= MEMO_SIZE:
            del clean[next(iter(clean))]
        clean[out] = None
        return out
