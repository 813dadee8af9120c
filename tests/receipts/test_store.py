"""Appending: the chain, group commit, checkpoints, durability and the append-only guard."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.conftest import key_dir
from tests.receipts.conftest import fill, reference_hash, row
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, ReceiptStoreError, make_entry, verify_db
from tollhouse.receipts.merkle import root_of
from tollhouse.receipts.schema import FIELDS
from tollhouse.receipts.signing import key_id_of

pytestmark = pytest.mark.anyio
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_chain_is_linked_and_hashes_match_the_spec(state_dir: Path) -> None:
    await fill(state_dir, 5)
    conn = sqlite3.connect(state_dir / "receipts.db")
    prev = "0" * 64
    for seq in range(1, 11):
        entry = row(conn, seq)
        assert entry["seq"] == seq
        assert entry["prev_hash"] == prev
        assert entry["hash"] == reference_hash(entry)
        assert TIME.match(entry["time"])
        assert entry["process"].count(":") >= 2
        prev = entry["hash"]
    assert conn.execute("SELECT count(*) FROM receipts").fetchone()[0] == 10
    assert row(conn, 1)["arguments"] == '{"path":"src/f0.py"}'


async def test_append_returns_after_commit_and_continues_after_reopen(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    receipt = await store.append(make_entry("intent", "c1", tool="t"))
    # Another connection sees it at once: the append returned only after COMMIT.
    other = sqlite3.connect(state_dir / "receipts.db")
    assert other.execute("SELECT hash FROM receipts WHERE seq = 1").fetchone()[0] == receipt.hash
    await store.close()
    store = await ReceiptStore.open(state_dir, redactor=Redactor(), create=False)
    again = await store.append(make_entry("outcome", "c1", tool="t", outcome="ok"))
    await store.close()
    assert again.seq == 2
    assert row(other, 2)["prev_hash"] == receipt.hash


async def test_32_concurrent_appenders_get_one_gapless_chain_in_group_commits(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())

    async def caller(i: int) -> list:
        return [
            await store.append(make_entry("event", None, tool=f"t{i}", message=str(j))) for j in range(50)
        ]

    results = await asyncio.gather(*(caller(i) for i in range(32)))
    await store.close()
    seqs = sorted(r.seq for rs in results for r in rs)
    assert seqs == list(range(1, 32 * 50 + 1))
    result = verify_db(state_dir / "receipts.db")
    assert result.ok and result.count == 1600
    # Group commit: entries of one transaction share its time; far fewer commits than entries.
    times = {r.time for rs in results for r in rs}
    assert len(times) < 1600 / 4


async def test_checkpoints_every_n_and_at_close_are_signed(state_dir: Path) -> None:
    await fill(state_dir, 6, checkpoint_every=5)  # 12 entries: checkpoints at 5, 10, and 12 at close
    conn = sqlite3.connect(state_dir / "receipts.db")
    notes = conn.execute("SELECT size, root, note FROM notes ORDER BY size").fetchall()
    assert [n[0] for n in notes] == [5, 10, 12]
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0  # v1 form: no longer written
    pem = (key_dir(state_dir) / "receipts-ed25519.pub").read_bytes()
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, Ed25519PublicKey)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    hashes = [r[0] for r in conn.execute("SELECT hash FROM receipts ORDER BY seq")]
    leaves = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in hashes]
    origin = f"tollhouse/receipts/{key_id_of(raw)}"
    for size, root, note in notes:
        # The C2SP form, checked by hand: origin, size, base64 root; a blank line; "— name sig".
        body, sig_line = note.split("\n\n")
        assert body.split("\n") == [origin, str(size), base64.b64encode(bytes.fromhex(root)).decode()]
        assert root == root_of(leaves[:size]).hex()
        dash, name, blob = sig_line.rstrip("\n").split(" ")
        assert (dash, name) == ("\u2014", origin)
        sig = base64.b64decode(blob)
        assert sig[:4] == hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
        public.verify(sig[4:], (body + "\n").encode())  # raises if bad


async def test_key_and_folder_permissions(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    await store.close()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((key_dir(state_dir) / "receipts-ed25519.key").stat().st_mode) == 0o600
    assert not (state_dir / "keys").exists()  # nothing of the key pair is left in the workspace
    assert store.key_id == key_id_of(store.public_key)


async def test_bad_entry_is_refused_and_nothing_is_written(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    with pytest.raises(ValueError, match="unknown fields"):
        await store.append({**make_entry("intent", "c1"), "extra": "x"})
    good = await store.append(make_entry("intent", "c1"))
    await store.close()
    assert good.seq == 1


async def test_append_after_close_fails_cleanly(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    await store.close()
    with pytest.raises(ReceiptStoreError, match="is closed; nothing was recorded"):
        await store.append(make_entry("intent", "c1"))


async def test_store_refuses_updates_and_deletes(state_dir: Path) -> None:
    await fill(state_dir, 1)
    conn = sqlite3.connect(state_dir / "receipts.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE receipts SET tool = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM receipts")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM notes")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE notes SET size = 2")


async def test_table_matches_the_documented_fields(state_dir: Path) -> None:
    await fill(state_dir, 1)
    conn = sqlite3.connect(state_dir / "receipts.db")
    assert tuple(r[1] for r in conn.execute("PRAGMA table_info(receipts)")) == FIELDS
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "receipts.md").read_text()
    for field in FIELDS:
        assert f"`{field}`" in doc, f"docs/receipts.md does not document {field}"
