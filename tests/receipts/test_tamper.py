"""An attacker with write access edits receipts.db with plain sqlite3; verification must catch it.

The chain is 20 entries (10 calls) with signed checkpoints at 5, 10, 15 and 20.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.receipts.conftest import attacker, fill, reference_hash, row, write_row
from tollhouse.receipts import parallel, verify_db
from tollhouse.receipts.merkle import leaf_hash, root_of
from tollhouse.receipts.note import origin_for, sign_checkpoint
from tollhouse.receipts.signing import key_id_of, load_public_key, public_key_path


@pytest.fixture(autouse=True, params=["one process", "two processes"])
def _verify_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attack is verified by the fast path in one process and split over two (parallel.py)."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 10**9 if request.param == "one process" else 1)


@pytest.fixture
def db(state_dir: Path) -> Path:
    asyncio.run(fill(state_dir, 10, checkpoint_every=5))
    return state_dir / "receipts.db"


def rehash_from(conn: sqlite3.Connection, start: int) -> None:
    """Recompute hash and prev_hash from ``start`` to the end, as a careful attacker would."""
    prev = row(conn, start - 1)["hash"] if start > 1 else "0" * 64
    last = conn.execute("SELECT max(seq) FROM receipts").fetchone()[0]
    for seq in range(start, last + 1):
        entry = row(conn, seq)
        entry["prev_hash"] = prev
        entry["hash"] = prev = reference_hash(entry)
        conn.execute(
            "UPDATE receipts SET prev_hash = ?, hash = ? WHERE seq = ?", (entry["prev_hash"], prev, seq)
        )


def test_untouched_chain_verifies(db: Path) -> None:
    result = verify_db(db)
    assert (result.ok, result.count, result.checkpoints, result.last_checkpoint_seq) == (True, 20, 4, 20)
    assert result.uncovered == 0


def test_edited_entry(db: Path) -> None:
    attacker(db).execute("UPDATE receipts SET tool = 'shell_run' WHERE seq = 7")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "altered" in result.reason


def test_edited_entry_with_recomputed_hash(db: Path) -> None:
    conn = attacker(db)
    entry = row(conn, 7)
    entry["arguments"] = '{"path":"innocent.txt"}'
    conn.execute(
        "UPDATE receipts SET arguments = ?, hash = ? WHERE seq = 7",
        (entry["arguments"], reference_hash(entry)),
    )
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "entry 7 does not hash to the value entry 8 recorded" in result.reason


def test_edit_with_whole_tail_rehashed_is_caught_by_the_signed_checkpoint(db: Path) -> None:
    conn = attacker(db)
    conn.execute("UPDATE receipts SET outcome = 'error' WHERE seq = 8")
    rehash_from(conn, 8)
    result = verify_db(db)
    # Entries 1..5 are vouched for by checkpoint 5; checkpoint 10 no longer matches the chain.
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "checkpoint at size 10 signed another history" in result.reason and "6..10" in result.reason


def test_deleted_entry(db: Path) -> None:
    attacker(db).execute("DELETE FROM receipts WHERE seq = 7")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "entry 7 is missing" in result.reason


def test_deleted_entry_with_renumbered_rest(db: Path) -> None:
    conn = attacker(db)
    conn.execute("DELETE FROM receipts WHERE seq = 7")
    conn.execute("UPDATE receipts SET seq = seq - 1 WHERE seq > 7")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "written as seq 8" in result.reason


def test_inserted_entry(db: Path) -> None:
    conn = attacker(db)
    conn.execute("UPDATE receipts SET seq = seq + 1000 WHERE seq >= 7")
    conn.execute("UPDATE receipts SET seq = seq - 999 WHERE seq > 1000")
    forged = row(conn, 8) | {"seq": 7, "tool": "files_delete", "call_id": "forged"}
    forged["prev_hash"] = row(conn, 6)["hash"]
    forged["hash"] = reference_hash(forged)
    write_row(conn, forged)
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "entry 7 was inserted" in result.reason


def test_reordered_entries(db: Path) -> None:
    conn = attacker(db)
    conn.execute("UPDATE receipts SET seq = -1 WHERE seq = 7")
    conn.execute("UPDATE receipts SET seq = 7 WHERE seq = 8")
    conn.execute("UPDATE receipts SET seq = 8 WHERE seq = -1")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "written as seq 8" in result.reason


def test_truncated_tail_covered_by_a_checkpoint(db: Path) -> None:
    attacker(db).execute("DELETE FROM receipts WHERE seq >= 18")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq, result.count) == (False, 18, 17)
    assert "entries 18..20 were removed" in result.reason
    assert not verify_db(db, require_head=False).ok


def test_first_entry_must_start_the_chain(db: Path) -> None:
    conn = attacker(db)
    conn.execute("UPDATE receipts SET prev_hash = ? WHERE seq = 1", ("1" * 64,))
    entry = row(conn, 1)
    conn.execute("UPDATE receipts SET hash = ? WHERE seq = 1", (reference_hash(entry),))
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 1)


def note_at(conn: sqlite3.Connection, size: int) -> str:
    return conn.execute("SELECT note FROM notes WHERE size = ?", (size,)).fetchone()[0]


def test_edited_checkpoint(db: Path) -> None:
    conn = attacker(db)
    forged = note_at(conn, 10).replace("\n10\n", "\n11\n", 1)
    conn.execute("UPDATE notes SET note = ? WHERE size = 10", (forged,))
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 11)
    assert "signature does not verify" in result.reason


def resign(conn: sqlite3.Connection, key: Ed25519PrivateKey, origin: str | None = None) -> None:
    """Replace every note with one signed by ``key`` over the store's current tree."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    origin = origin or origin_for(key_id_of(raw))
    hashes = [r[0] for r in conn.execute("SELECT hash FROM receipts ORDER BY seq")]
    leaves = [leaf_hash(bytes.fromhex(h)) for h in hashes]
    sizes = [r[0] for r in conn.execute("SELECT size FROM notes")] or [len(leaves)]
    conn.execute("DELETE FROM notes")
    for size in sizes:
        root = root_of(leaves[:size])
        conn.execute(
            "INSERT INTO notes VALUES (?, ?, '2026-01-01T00:00:00.000000Z', ?)",
            (size, root.hex(), sign_checkpoint(key, raw, origin, size, root)),
        )


def test_checkpoint_signed_by_another_key(db: Path) -> None:
    mine = Ed25519PrivateKey.generate()
    pinned = load_public_key(public_key_path(db.parent))
    # Under its own name, and under the store's name (the key hash then names another key).
    for origin in (None, origin_for(key_id_of(pinned))):
        conn = attacker(db)
        conn.execute("UPDATE receipts SET tool = 'x' WHERE seq = 12")
        rehash_from(conn, 12)
        resign(conn, mine, origin)
        result = verify_db(db)
        assert not result.ok
        assert ("not 'tollhouse/receipts/" in result.reason) or (
            "no signature by the expected key" in result.reason
        )


def test_rewritten_history_without_checkpoints_fails_with_the_pinned_key(db: Path) -> None:
    """The reviewed attack: rewrite from seq 1, re-hash the chain, drop every checkpoint."""
    pinned = load_public_key(public_key_path(db.parent))
    conn = attacker(db)
    conn.execute('UPDATE receipts SET arguments = \'{"path":"innocent"}\' WHERE seq = 1')
    rehash_from(conn, 1)
    conn.execute("DELETE FROM notes")
    conn.execute("DELETE FROM merkle_state")
    result = verify_db(db, pinned)
    assert (result.ok, result.first_bad_seq, result.uncovered) == (False, 1, 20)
    assert "entries 1..20 are not covered by a signed checkpoint (the store has none" in result.reason
    assert verify_db(db, pinned, require_head=False).ok  # what the flag gives up, spelled out


def test_uncovered_tail_is_counted(db: Path) -> None:
    attacker(db).execute("DELETE FROM notes WHERE size = 20")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq, result.uncovered, result.last_checkpoint_seq) == (
        False,
        16,
        5,
        15,
    )
    loose = verify_db(db, require_head=False)
    assert (loose.ok, loose.uncovered) == (True, 5)


def test_replaced_public_key_is_caught_only_with_a_pinned_key(db: Path, tmp_path: Path) -> None:
    """An attacker who owns the state folder re-signs everything with a new key: the default
    verification trusts the stored key file, a pinned key does not."""
    pinned = load_public_key(public_key_path(db.parent))
    conn = attacker(db)
    conn.execute("UPDATE receipts SET tool = 'x' WHERE seq = 3")
    rehash_from(conn, 3)
    mine = Ed25519PrivateKey.generate()
    resign(conn, mine)
    pem = mine.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_key_path(db.parent).write_bytes(pem)
    assert verify_db(db).ok  # the limit of trusting a key file the attacker controls
    result = verify_db(db, pinned)
    assert not result.ok
    assert "signed by another key (re-keyed?)" in result.reason


def test_verify_reads_a_copy_without_the_writer(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(db.parent, copy)
    # The key pair stays with the workspace it signs for (outside it): a copy is verified by naming it.
    assert verify_db(copy / "receipts.db", load_public_key(public_key_path(db.parent))).ok


def test_bytes_that_are_not_utf8(db: Path) -> None:
    attacker(db).execute("UPDATE receipts SET tool = CAST(X'66696c65ff' AS TEXT) WHERE seq = 9")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 9)


def test_null_hash_and_wrong_types(db: Path) -> None:
    conn = attacker(db)
    conn.execute("UPDATE receipts SET duration_us = 1.5 WHERE seq = 4")
    assert verify_db(db).first_bad_seq == 4
