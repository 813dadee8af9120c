"""The store's one append redacts every field; a store opened without a redactor cannot append."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, ReceiptStoreError, make_entry, verify_db

pytestmark = pytest.mark.anyio
SECRET = "s3cr3t-operator-value-0123456789"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def raw_bytes(state_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in state_dir.glob("receipts.db*"))


async def test_without_a_redactor_nothing_is_appended(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir)
    try:
        with pytest.raises(ReceiptStoreError, match="opened without a redactor, so it cannot append"):
            await store.append(make_entry("event", None, message="hello"))
    finally:
        await store.close()
    count = sqlite3.connect(state_dir / "receipts.db").execute("SELECT count(*) FROM receipts").fetchone()
    assert count == (0,)


class KeyRedactor(Redactor):
    """A redactor that also redacts JSON keys, as the gate's does: the store must hand it the keys."""

    def redact(self, value: Any) -> Any:
        return self._keys(super().redact(value))

    def _keys(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.redact_text(k): self._keys(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._keys(v) for v in value]
        return value


async def test_every_field_is_redacted_on_the_way_in(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=KeyRedactor(secrets=[SECRET]))
    try:
        await store.append(
            make_entry(
                "intent",
                f"call-{SECRET}",
                tool=f"tool_{SECRET}",
                case_id=SECRET,
                session=GITHUB,
                client=f"cli {GITHUB} v1",  # glued to letters is helper 4's detector fix
                arguments={SECRET: "key", "env": {"TOKEN": "plain-looking-value-123"}, "v": [GITHUB]},
                details={"note": f"see {SECRET}", GITHUB: 1},
                credentials=[SECRET],
                rules=[SECRET],
                message=f"failed with {SECRET}",
                excerpt=GITHUB,
                approver=SECRET,
                operator=SECRET,
            )
        )
    finally:
        await store.close()
    data = raw_bytes(state_dir)
    assert SECRET.encode() not in data
    assert GITHUB.encode() not in data
    assert b"plain-looking-value-123" not in data  # a value under a secret-looking key
    assert b"[REDACTED:secret]" in data
    assert verify_db(state_dir / "receipts.db").ok  # hashed after redaction: the chain holds


async def test_memo_redactor_forgets_when_a_secret_is_added() -> None:
    from tollhouse.receipts.redaction import MEMO_SIZE, MemoRedactor

    r = MemoRedactor()
    text = f"the token is {SECRET} here"
    assert r.redact_text(text) == text  # not a secret yet: the text is remembered as clean
    assert r.redact_text(text) == text
    r.add_secret(SECRET)  # a credential resolved later
    assert r.redact_text(text) == "the token is [REDACTED:secret] here"
    for i in range(MEMO_SIZE + 10):  # bounded: old texts go first
        r.redact_text(f"filler text number {i}")
    assert len(r._clean) == MEMO_SIZE


async def test_memo_redactor_json_memory_is_exact(state_dir: Path) -> None:
    """JSON fields remembered as clean are skipped only while nothing could make them dirty: a secret
    added later is redacted out of the very same text, and a dirty text is never remembered."""
    from tollhouse.receipts.redaction import JSON_MEMO_MAX_CHARS, MEMO_SIZE, MemoRedactor

    r = MemoRedactor()
    store = await ReceiptStore.open(state_dir, redactor=r)
    args = {"path": f"notes/{SECRET}.txt", "n": 2**53 - 1, "deep": [{"k": "\u00e9\x00"}]}
    try:
        await store.append(make_entry("intent", "c1", arguments=args))  # not a secret yet
        await store.append(make_entry("intent", "c2", arguments=args))  # remembered: same text stored
        assert len(r.clean_json) == 1
        r.add_secret(SECRET)  # a credential resolved later
        assert r.clean_json == {}
        await store.append(make_entry("intent", "c3", arguments=args))
        await store.append(make_entry("intent", "c4", arguments={"t": GITHUB}))
        await store.append(make_entry("intent", "c5", arguments={"t": GITHUB}))
        assert all(SECRET not in t and GITHUB not in t for t in r.clean_json)
        for i in range(MEMO_SIZE + 5):  # bounded, oldest first; long texts are not kept at all
            r.remember_clean_json(f'{{"i":{i}}}', {"i": i})
        r.remember_clean_json('"' + "x" * JSON_MEMO_MAX_CHARS + '"', "x")
        assert len(r.clean_json) == MEMO_SIZE and '{"i":0}' not in r.clean_json
    finally:
        await store.close()
    rows = sqlite3.connect(state_dir / "receipts.db").execute("SELECT call_id, arguments FROM receipts")
    stored = dict(rows.fetchall())
    assert stored["c1"] == stored["c2"] and SECRET in stored["c1"]
    assert SECRET not in stored["c3"] and "[REDACTED:secret]" in stored["c3"]
    assert GITHUB not in stored["c4"] and stored["c4"] == stored["c5"]
    assert verify_db(state_dir / "receipts.db").ok
