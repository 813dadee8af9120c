"""Truncation, forks and re-keying: caught by an older checkpoint or a witness the agent cannot reach."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import key_dir
from tests.receipts.conftest import attacker, fill, row
from tests.receipts.test_tamper import rehash_from, resign
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, ReceiptStoreError, verify_db
from tollhouse.receipts.note import parse_checkpoint
from tollhouse.receipts.signing import key_id_of, load_public_key, public_key_path
from tollhouse.receipts.witness import anchors_from, witness_file


@pytest.fixture
def witness(tmp_path: Path) -> Path:
    return tmp_path / "operator" / "witness"


@pytest.fixture
def db(state_dir: Path, witness: Path) -> Path:
    asyncio.run(fill(state_dir, 10, checkpoint_every=5, witnesses=(witness,)))
    return state_dir / "receipts.db"


def key_id(db: Path) -> str:
    return key_id_of(load_public_key(public_key_path(db.parent)))


def test_each_new_checkpoint_reaches_the_witness(db: Path, witness: Path) -> None:
    pinned = load_public_key(public_key_path(db.parent))
    cp = parse_checkpoint(witness_file(witness, key_id(db)).read_text(), pinned)
    assert cp.size == 20
    result = verify_db(db, pinned, anchors=anchors_from(witness, key_id(db)))
    assert (result.ok, result.anchors) == (True, 1)


def truncate_at_15(db: Path) -> None:
    conn = attacker(db)
    conn.execute("DELETE FROM receipts WHERE seq > 15")
    conn.execute("DELETE FROM notes WHERE size > 15")
    conn.execute("DELETE FROM merkle_state")
    conn.execute("DELETE FROM merkle_nodes")


def test_truncated_tail_with_its_checkpoints(db: Path, witness: Path, tmp_path: Path) -> None:
    older = tmp_path / "kept-elsewhere.checkpoint"
    older.write_text(sqlite3.connect(db).execute("SELECT note FROM notes WHERE size = 20").fetchone()[0])
    truncate_at_15(db)
    pinned = load_public_key(public_key_path(db.parent))
    assert verify_db(db, pinned).ok  # a clean cut at a checkpoint: nothing inside the store shows it
    for anchors in (
        anchors_from(witness, key_id(db)),
        [("the checkpoint kept-elsewhere", older.read_text())],
    ):
        result = verify_db(db, pinned, anchors=anchors)
        assert (result.ok, result.first_bad_seq, result.count) == (False, 16, 15)
        assert "covers 20 entries: entries 16..20 were removed (the history was truncated)" in result.reason


def test_a_server_on_a_truncated_store_cannot_walk_the_witness_back(db: Path, witness: Path) -> None:
    truncate_at_15(db)

    async def reopen() -> None:
        await fill(db.parent, 1, checkpoint_every=5, witnesses=(witness,), start=100)  # 17 entries now

    asyncio.run(reopen())
    pinned = load_public_key(public_key_path(db.parent))
    assert parse_checkpoint(witness_file(witness, key_id(db)).read_text(), pinned).size == 20
    result = verify_db(db, pinned, anchors=anchors_from(witness, key_id(db)))
    assert not result.ok and "truncated" in result.reason


def test_fork_signed_with_the_real_key(db: Path, witness: Path) -> None:
    """Whoever holds the key can sign another history; a witness that saw the first one tells."""
    signer_key = serialization.load_pem_private_key(
        (key_dir(db.parent) / "receipts-ed25519.key").read_bytes(), None
    )
    assert isinstance(signer_key, Ed25519PrivateKey)
    conn = attacker(db)
    conn.execute("UPDATE receipts SET tool = 'files_delete' WHERE seq = 12")
    rehash_from(conn, 12)
    resign(conn, signer_key)
    pinned = load_public_key(public_key_path(db.parent))
    assert verify_db(db, pinned).ok  # consistent in itself, and signed by the real key
    result = verify_db(db, pinned, anchors=anchors_from(witness, key_id(db)))
    assert not result.ok
    assert "has another Merkle root at size 20 than this store" in result.reason
    assert row(conn, 12)["tool"] == "files_delete"


def test_rekeyed_store_fails_against_the_witness_even_without_a_pinned_key(db: Path, witness: Path) -> None:
    old_id = key_id(db)
    mine = Ed25519PrivateKey.generate()
    conn = attacker(db)
    conn.execute("UPDATE receipts SET tool = 'x' WHERE seq = 3")
    rehash_from(conn, 3)
    resign(conn, mine)
    pem = mine.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_key_path(db.parent).write_bytes(pem)
    assert verify_db(db).ok
    new_id = key_id(db)
    assert new_id != old_id
    result = verify_db(db, anchors=anchors_from(witness, new_id))  # the witness only knows the old key
    assert not result.ok and "signed by another key (re-keyed?)" in result.reason


def test_witness_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        anchors_from(tmp_path / "nowhere", "abc")


@pytest.mark.anyio
async def test_interval_checkpoint_covers_the_head(state_dir: Path) -> None:
    store = await ReceiptStore.open(
        state_dir, redactor=Redactor(), checkpoint_every=1000, checkpoint_interval_s=0.05
    )
    try:
        await fill_open(store, 3)
        for _ in range(100):
            await asyncio.sleep(0.02)
            result = verify_db(state_dir / "receipts.db")
            if result.ok:
                break
        assert (result.ok, result.count, result.uncovered) == (True, 3, 0)
    finally:
        await store.close()


async def fill_open(store: ReceiptStore, n: int) -> None:
    from tollhouse.receipts import make_entry

    for i in range(n):
        await store.append(make_entry("event", None, message=f"event {i}"))


@pytest.mark.anyio
async def test_checkpoint_refuses_a_truncated_tree(state_dir: Path) -> None:
    await fill(state_dir, 5)
    attacker(state_dir / "receipts.db").execute("DELETE FROM receipts WHERE seq > 7")
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    try:
        with pytest.raises(ReceiptStoreError, match="receipts were removed; refusing to sign"):
            await store.checkpoint()
    finally:
        with pytest.raises(ReceiptStoreError):
            await store.close()


class WitnessServer:
    """A loopback HTTP witness: GET and PUT of <key_id>.checkpoint, kept in memory."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        store: dict[str, bytes] = {}
        self.store = store

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = store.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def do_PUT(self) -> None:
                store[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/witness"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_witness():
    server = WitnessServer()
    yield server
    server.close()


def test_http_witness_gets_each_checkpoint_and_catches_truncation(state_dir: Path, http_witness) -> None:
    from tollhouse.receipts.witness import parse_witness_spec

    witness = parse_witness_spec(http_witness.url)
    asyncio.run(fill(state_dir, 10, checkpoint_every=5, witnesses=(witness,)))
    db = state_dir / "receipts.db"
    pinned = load_public_key(public_key_path(db.parent))
    stored = http_witness.store[f"/witness/{key_id(db)}.checkpoint"].decode()
    assert parse_checkpoint(stored, pinned).size == 20
    assert verify_db(db, pinned, anchors=anchors_from(witness, key_id(db))).ok
    truncate_at_15(db)
    asyncio.run(fill(db.parent, 1, checkpoint_every=5, witnesses=(witness,), start=100))  # 17 now
    assert (
        parse_checkpoint(http_witness.store[f"/witness/{key_id(db)}.checkpoint"].decode(), pinned).size == 20
    )
    result = verify_db(db, pinned, anchors=anchors_from(witness, key_id(db)))
    assert not result.ok and "entries 18..20 were removed (the history was truncated)" in result.reason
