"""A store that cannot be used says what is wrong and what to do, and changes nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import key_dir
from tests.receipts.conftest import fill
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, ReceiptStoreError

pytestmark = pytest.mark.anyio


async def test_read_only_db_file(state_dir: Path) -> None:
    await fill(state_dir, 1)
    db = state_dir / "receipts.db"
    before = db.read_bytes()
    db.chmod(0o444)
    try:
        with pytest.raises(ReceiptStoreError, match=r"receipts\.db is read-only.*chmod u\+w"):
            await ReceiptStore.open(state_dir, redactor=Redactor())
    finally:
        db.chmod(0o644)
    assert db.read_bytes() == before


async def test_read_only_state_folder(state_dir: Path) -> None:
    await fill(state_dir, 1)
    state_dir.chmod(0o500)
    try:
        with pytest.raises(ReceiptStoreError, match=r"state folder .* is read-only"):
            await ReceiptStore.open(state_dir, redactor=Redactor())
    finally:
        state_dir.chmod(0o700)


async def test_missing_folder_without_create(state_dir: Path) -> None:
    with pytest.raises(ReceiptStoreError, match=r"does not exist; run `tollhouse init`"):
        await ReceiptStore.open(state_dir, redactor=Redactor(), create=False)
    assert not state_dir.exists()


async def test_missing_db_without_create(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    with pytest.raises(ReceiptStoreError, match="no receipt database at"):
        await ReceiptStore.open(state_dir, redactor=Redactor(), create=False)


async def test_key_readable_by_others(state_dir: Path) -> None:
    await fill(state_dir, 1)
    key = key_dir(state_dir) / "receipts-ed25519.key"
    key.chmod(0o644)
    with pytest.raises(ReceiptStoreError, match=r"has mode 0644.*chmod 600"):
        await ReceiptStore.open(state_dir, redactor=Redactor())


async def test_corrupt_db(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    db = state_dir / "receipts.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ReceiptStoreError, match="corrupt or not SQLite; move it aside"):
        await ReceiptStore.open(state_dir, redactor=Redactor())
    assert db.read_bytes() == b"this is not sqlite" * 100


async def test_foreign_table(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    conn = sqlite3.connect(state_dir / "receipts.db")
    conn.execute("CREATE TABLE receipts (id INTEGER, body TEXT)")
    conn.commit()
    with pytest.raises(ReceiptStoreError, match="not a tollhouse receipt store"):
        await ReceiptStore.open(state_dir, redactor=Redactor())


async def test_state_path_is_a_file(state_dir: Path) -> None:
    state_dir.parent.mkdir(parents=True)
    state_dir.write_text("x")
    with pytest.raises(ReceiptStoreError, match="is not a folder"):
        await ReceiptStore.open(state_dir, redactor=Redactor())


async def test_damaged_key_file(state_dir: Path) -> None:
    await fill(state_dir, 1)
    key = key_dir(state_dir) / "receipts-ed25519.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    os.chmod(key, 0o600)
    with pytest.raises(ReceiptStoreError, match="not a valid PEM private key"):
        await ReceiptStore.open(state_dir, redactor=Redactor())
