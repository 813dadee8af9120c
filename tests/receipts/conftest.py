"""Fixtures for the receipt store: a real state folder, filled through the real store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import rfc8785

from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry
from tollhouse.receipts.schema import FIELDS


async def fill(
    state_dir: Path,
    calls: int,
    *,
    checkpoint_every: int = 1000,
    close: bool = True,
    witnesses: tuple[Path, ...] = (),
    start: int = 0,
) -> None:
    """Append ``calls`` intent+outcome pairs (2 * calls entries)."""
    store = await ReceiptStore.open(
        state_dir, redactor=Redactor(), checkpoint_every=checkpoint_every, witnesses=witnesses
    )
    for i in range(start, start + calls):
        await store.append(
            make_entry(
                "intent",
                f"call-{i}",
                tool="files_read",
                decision="allow",
                rules=["read-workspace"],
                channel="cli",
                session="s1",
                arguments={"path": f"src/f{i}.py"},
            )
        )
        await store.append(
            make_entry(
                "outcome",
                f"call-{i}",
                tool="files_read",
                outcome="ok",
                channel="cli",
                session="s1",
                duration_us=i,
            )
        )
    if close:
        await store.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "ws" / ".tollhouse"


def attacker(db: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection as an attacker with write access would use: triggers dropped."""
    conn = sqlite3.connect(db, isolation_level=None)
    for name in (
        "receipts_no_update",
        "receipts_no_delete",
        "checkpoints_no_update",
        "checkpoints_no_delete",
        "notes_no_update",
        "notes_no_delete",
    ):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    return conn


def row(conn: sqlite3.Connection, seq: int) -> dict:
    values = conn.execute(f"SELECT {', '.join(FIELDS)} FROM receipts WHERE seq = ?", (seq,)).fetchone()
    return dict(zip(FIELDS, values, strict=True))


def reference_hash(entry: dict) -> str:
    """The hash as the spec defines it, computed with the rfc8785 package (not our fast path)."""
    import hashlib

    return hashlib.sha256(rfc8785.dumps({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def write_row(conn: sqlite3.Connection, entry: dict) -> None:
    conn.execute(
        f"INSERT INTO receipts ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
        tuple(entry[f] for f in FIELDS),
    )
