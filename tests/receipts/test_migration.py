"""A store written by v1 (chain + v1 checkpoints, no Merkle tree) keeps verifying, and grows into v2."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path

from tests.receipts.conftest import attacker, fill, row
from tollhouse.receipts import verify_bundle, verify_db
from tollhouse.receipts.signing import checkpoint_payload, key_id_of, load_or_create_signer
from tollhouse.receipts.verify import SORTED_FIELDS


def make_v1(state_dir: Path) -> Path:
    """Entries written by the store, then the database made exactly as v1 left it."""
    asyncio.run(fill(state_dir, 5, checkpoint_every=1000))
    db = state_dir / "receipts.db"
    conn = attacker(db)
    for table in ("notes", "merkle_nodes", "merkle_state"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 1")
    signer = load_or_create_signer(state_dir)
    for seq in (5, 10):
        head, time = row(conn, seq)["hash"], "2026-01-01T00:00:00.000000Z"
        sig = base64.b64encode(
            signer.private.sign(checkpoint_payload(seq, head, time, signer.key_id))
        ).decode()
        conn.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?)", (seq, head, time, signer.key_id, sig))
    conn.close()
    return db


def test_a_v1_store_verifies_as_it_was(state_dir: Path) -> None:
    db = make_v1(state_dir)
    result = verify_db(db)
    assert (result.ok, result.count, result.checkpoints, result.last_checkpoint_seq) == (True, 10, 2, 10)
    attacker(db).execute("UPDATE receipts SET tool = 'x' WHERE seq = 4")
    assert verify_db(db).first_bad_seq == 4


def test_a_v1_store_grows_into_v2_and_keeps_its_v1_signatures(state_dir: Path) -> None:
    db = make_v1(state_dir)
    asyncio.run(fill(state_dir, 2, checkpoint_every=1000, start=10))  # opens, migrates, appends, signs
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [r[0] for r in conn.execute("SELECT size FROM notes")] == [14]  # the tree covers v1 and v2
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 2
    result = verify_db(db)
    assert (result.ok, result.count, result.checkpoints, result.uncovered) == (True, 14, 3, 0)
    # A v1 checkpoint still catches an edit it covers, with the tail re-hashed.
    from tests.receipts.test_tamper import rehash_from

    conn = attacker(db)
    conn.execute("UPDATE receipts SET tool = 'x' WHERE seq = 2")
    rehash_from(conn, 2)
    bad = verify_db(db)
    assert (bad.ok, bad.first_bad_seq) == (False, 1)
    assert "checkpoint at seq 5 signed another history" in bad.reason


def test_a_v1_bundle_still_verifies(state_dir: Path, tmp_path: Path) -> None:
    db = make_v1(state_dir)
    conn = sqlite3.connect(db)
    rows = conn.execute(f"SELECT {', '.join((*SORTED_FIELDS, 'hash'))} FROM receipts ORDER BY seq").fetchall()
    cps = conn.execute(
        "SELECT seq, head_hash, time, key_id, signature FROM checkpoints ORDER BY seq"
    ).fetchall()
    raw = load_or_create_signer(state_dir).public_raw
    header = {
        "format": "tollhouse-receipts/1",
        "public_key": base64.b64encode(raw).decode(),
        "key_id": key_id_of(raw),
        "count": len(rows),
        "checkpoints": len(cps),
    }
    lines = [header, *(dict(zip((*SORTED_FIELDS, "hash"), r, strict=True)) for r in rows)]
    lines += [dict(zip(("seq", "head_hash", "time", "key_id", "signature"), c, strict=True)) for c in cps]
    bundle = tmp_path / "v1.jsonl"
    bundle.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    result = verify_bundle(bundle)
    assert (result.ok, result.count, result.checkpoints) == (True, 10, 2)


def test_a_v1_checkpoint_still_catches_a_truncated_tail(state_dir: Path) -> None:
    db = make_v1(state_dir)
    attacker(db).execute("DELETE FROM receipts WHERE seq > 7")
    result = verify_db(db)
    assert (result.ok, result.first_bad_seq) == (False, 8)
    assert "entries 8..10 were removed" in result.reason
