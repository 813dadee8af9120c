"""The read API: newest first, filters, decoded JSON fields, lookups by seq and call id."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.receipts.conftest import fill
from tollhouse.receipts import ReceiptStoreError, get_call, get_receipt, read_receipts

pytestmark = pytest.mark.anyio


async def test_read_receipts_and_filters(state_dir: Path) -> None:
    await fill(state_dir, 5)
    db = state_dir / "receipts.db"
    newest = read_receipts(db, limit=3)
    assert [e["seq"] for e in newest] == [10, 9, 8]
    assert [e["seq"] for e in read_receipts(db, limit=2, before_seq=8)] == [7, 6]
    assert [e["seq"] for e in read_receipts(db, call_id="call-2")] == [6, 5]
    assert read_receipts(db, tool="nope") == []
    assert len(read_receipts(db, session="s1", limit=100)) == 10
    intent = read_receipts(db, call_id="call-0")[-1]
    assert intent["arguments"] == {"path": "src/f0.py"}
    assert intent["rules"] == ["read-workspace"]


async def test_get_receipt_and_call(state_dir: Path) -> None:
    await fill(state_dir, 3)
    db = state_dir / "receipts.db"
    assert get_receipt(db, 3)["call_id"] == "call-1"
    assert get_receipt(db, "3")["seq"] == 3
    assert get_receipt(db, "call-1")["seq"] == 4  # the latest entry of the call
    assert get_receipt(db, 99) is None
    assert [e["kind"] for e in get_call(db, 3)] == ["intent", "outcome"]
    assert [e["seq"] for e in get_call(db, "call-2")] == [5, 6]
    assert get_call(db, "no-such-call") == []


def test_reading_a_missing_db_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReceiptStoreError, match="no receipt database at"):
        read_receipts(tmp_path / "receipts.db")
