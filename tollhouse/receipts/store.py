"""``ReceiptStore``: open a workspace's receipt database and append to it durably.

Writes go through one dedicated thread that owns a stdlib ``sqlite3`` connection (see ``writer.py``).
We do not use aiosqlite here: it hops to its thread and back for every statement, which costs more
than the insert itself and cannot batch several callers' entries into one commit; one owning thread
with group commit reaches the project's >= 5,000 durable appends/s with 32 callers. Futures are
asyncio futures (resolved with ``loop.call_soon_threadsafe``), so the store needs the asyncio backend.

Reading never needs the writer: see ``read.py`` and ``verify.py``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import DDL, FIELDS, SCHEMA_VERSION, validate_entry
from tollhouse.receipts.signing import Signer, load_or_create_signer
from tollhouse.receipts.writer import Receipt, Writer, _Op

DB_NAME = "receipts.db"
BUSY_TIMEOUT_MS = 30_000

__all__ = ["DB_NAME", "Receipt", "ReceiptStore", "ReceiptStoreError"]


class ReceiptStore:
    def __init__(self, state_dir: Path, signer: Signer, writer: Writer) -> None:
        self.state_dir = state_dir
        self.db_path = state_dir / DB_NAME
        self.signer = signer
        self._writer = writer
        self._closed = False

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key that verifies this store's checkpoints."""
        return self.signer.public_raw

    @classmethod
    async def open(
        cls,
        state_dir: Path,
        *,
        checkpoint_every: int = 1000,
        synchronous: str = "normal",
        create: bool = True,
    ) -> ReceiptStore:
        """Open (and with ``create``, set up) the store in ``state_dir``. Raises ReceiptStoreError."""
        if synchronous not in ("normal", "full"):
            raise ValueError("synchronous must be 'normal' or 'full'")
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        state_dir = Path(state_dir)
        conn, signer = await anyio.to_thread.run_sync(_setup, state_dir, create, synchronous)
        writer = Writer(conn, state_dir / DB_NAME, signer, checkpoint_every)
        writer.start()
        return cls(state_dir, signer, writer)

    async def append(self, entry: dict[str, Any]) -> Receipt:
        """Append one entry; returns once it is committed. ValueError for a malformed entry."""
        checked = validate_entry(entry)
        return await self._submit("append", checked)

    async def recover_interrupted(self) -> list[int]:
        """Close every intent whose writer has died with an ``interrupted`` entry.

        Returns the seqs of the new ``interrupted`` entries. Intents of live processes (another
        server sharing this workspace, or this one) are left open.
        """
        return await self._submit("recover")

    async def checkpoint(self) -> int | None:
        """Sign the current head now; returns its seq (None for an empty store)."""
        return await self._submit("checkpoint")

    async def close(self) -> None:
        """Write the pending entries and a final signed checkpoint, then stop the writer."""
        if self._closed:
            return
        try:
            await self._submit("checkpoint")
        finally:
            self._closed = True
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            self._writer.submit(_Op("stop", loop, done))
            await done
            await anyio.to_thread.run_sync(self._writer.join)

    async def __aenter__(self) -> ReceiptStore:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _submit(self, kind: str, entry: dict[str, Any] | None = None) -> Any:
        if self._closed:
            raise ReceiptStoreError(f"the receipt store {self.db_path} is closed; nothing was recorded")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._writer.submit(_Op(kind, loop, future, entry))
        return await future


def _setup(state_dir: Path, create: bool, synchronous: str) -> tuple[sqlite3.Connection, Signer]:
    """Blocking part of ``open``: folder, key, database, schema, and a write probe."""
    db_path = state_dir / DB_NAME
    if not state_dir.exists():
        if not create:
            raise ReceiptStoreError(
                f"the state folder {state_dir} does not exist; run `tollhouse init` in the workspace "
                "(or open the store with create=True)"
            )
        try:
            state_dir.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise ReceiptStoreError(f"cannot create the state folder {state_dir}: {exc.strerror}") from exc
    if not state_dir.is_dir():
        raise ReceiptStoreError(f"{state_dir} should be the state folder but is not a folder; move it aside")
    # Mode bits are checked explicitly, not only via os.access: a root-owned service would otherwise
    # write through a read-only mark that an operator set on purpose.
    if not _writable(state_dir):
        raise ReceiptStoreError(
            f"the state folder {state_dir} is read-only; receipts cannot be written there. "
            f"Make it writable (chmod u+w {state_dir}) or point the workspace elsewhere"
        )
    if db_path.exists() and not _writable(db_path):
        raise ReceiptStoreError(
            f"the receipt database {db_path} is read-only; receipts cannot be appended. "
            f"Make it writable (chmod u+w {db_path}) or move it aside to start a new chain"
        )
    if not db_path.exists() and not create:
        raise ReceiptStoreError(f"no receipt database at {db_path}; run `tollhouse init` to create it")
    signer = load_or_create_signer(state_dir, create=create)
    try:
        conn = sqlite3.connect(
            db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise ReceiptStoreError(f"cannot open the receipt database {db_path}: {exc}") from exc
    try:
        _prepare(conn, db_path, synchronous)
    except BaseException:
        conn.close()
        raise
    return conn, signer


def _writable(path: Path) -> bool:
    mode = path.stat().st_mode
    return bool(mode & stat.S_IWUSR) and os.access(path, os.W_OK)


def _prepare(conn: sqlite3.Connection, db_path: Path, synchronous: str) -> None:
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ReceiptStoreError(
                f"{db_path} was written by a newer tollhouse (schema {version}); upgrade tollhouse"
            )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ReceiptStoreError(f"cannot switch {db_path} to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        columns = [r[1] for r in conn.execute("PRAGMA table_info(receipts)").fetchall()]
        if columns and tuple(columns) != FIELDS:
            raise ReceiptStoreError(
                f"{db_path} has a receipts table with other columns; it is not a tollhouse receipt "
                "store of this version. Move it aside to start a new chain"
            )
        # BEGIN IMMEDIATE takes the write lock: this doubles as a probe that we can really write.
        conn.executescript(f"BEGIN IMMEDIATE;{DDL}COMMIT;")
    except ReceiptStoreError:
        raise
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            hint = "the file is corrupt or not SQLite; move it aside (keep it for inspection) to start anew"
        elif "readonly" in text or "read-only" in text:
            hint = "the file or its folder is read-only; make both writable"
        elif "locked" in text:
            hint = "another process holds it locked; retry, or stop the process that holds it"
        else:
            hint = "check the file and its folder"
        raise ReceiptStoreError(f"cannot use the receipt database {db_path}: {text}; {hint}") from exc
