"""``ReceiptStore``: open a workspace's receipt database and append to it durably.

Two write paths, one chain. With ``synchronous="normal"`` an append is committed on the event loop
itself: the first append of a loop iteration at once, in its caller's turn; the appends arriving
after it in the same iteration are flushed together in one transaction (group commit). An
uncontended WAL commit takes tens of microseconds, less than handing the work to a thread and back.
When that cannot be done without waiting (another process holds the write lock) or must wait by
design (``synchronous="full"`` fsyncs every commit), the entries go to one dedicated writer thread
that owns its own stdlib ``sqlite3`` connection (``writer.py``). Both paths read the chain head
inside ``BEGIN IMMEDIATE``, which is also what keeps several processes on one chain.

We do not use aiosqlite here: it hops to its thread and back for every statement, which costs more
than the insert itself and cannot batch several callers' entries into one commit. Futures are asyncio
futures, so the store needs the asyncio backend.

Reading never needs the writer: see ``read.py`` and ``verify.py``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import anyio

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import DDL, FIELDS, INSERT_SQL, SCHEMA_VERSION, redact_entry, validate_entry
from tollhouse.receipts.signing import Signer, load_or_create_signer
from tollhouse.receipts.witness import Witness
from tollhouse.receipts.writer import Receipt, Writer, _Op, append_rows, chain_entries, crosses

DB_NAME = "receipts.db"
BUSY_TIMEOUT_MS = 30_000
WAL_EVERY = 1000
"""Inline appends between two WAL checkpoints, which the writer thread runs."""

__all__ = ["DB_NAME", "Receipt", "ReceiptStore", "ReceiptStoreError"]


class EntryRedactor(Protocol):
    """What the store needs of ``tollhouse.gate.redact.Redactor``."""

    def redact(self, value: Any) -> Any: ...

    def redact_text(self, text: str) -> str: ...


class ReceiptStore:
    def __init__(
        self,
        state_dir: Path,
        signer: Signer,
        writer: Writer,
        inline: sqlite3.Connection | None = None,
        redactor: EntryRedactor | None = None,
        url: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self._redactor = redactor
        self.db_path = state_dir / DB_NAME
        self.url = url
        """The PostgreSQL store's URL (``tollhouse.store``), or None for the workspace's SQLite file."""
        self.location = self.db_path if url is None else writer.db_path
        """Where receipts go, for messages (a PostgreSQL URL without its password)."""
        self.signer = signer
        self._writer = writer
        self._inline = inline
        self._pending: list[tuple[dict[str, Any], asyncio.Future[Receipt]]] = []
        self._since_wal = 0
        self._quiet = True
        """No append has been committed since the event loop last went round."""
        self._head: tuple[int, str] | None = None
        """(seq, hash) of the chain head as this connection last wrote it; None when unknown."""
        self._closed = False

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    @property
    def source(self) -> Any:
        """What the receipt views (case files, interrupted handoffs) read: this store's own log."""
        from tollhouse.store.source import ReceiptSource

        return ReceiptSource(self.db_path, self.url, self.key_id if self.url is not None else None)

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
        checkpoint_interval_s: float | None = None,
        witnesses: tuple[Witness, ...] | list[Witness] = (),
        redactor: EntryRedactor | None = None,
        url: str | None = None,
    ) -> ReceiptStore:
        """Open (and with ``create``, set up) the store in ``state_dir``. Raises ReceiptStoreError.

        A signed checkpoint is written every ``checkpoint_every`` entries, every
        ``checkpoint_interval_s`` seconds when entries are new, and at ``close``; each new one is
        also written to every witness folder.

        Every entry appended passes ``redactor`` first, every field, JSON keys included: a store
        opened without one can sign and be read, but cannot append (ReceiptStoreError).

        With ``url`` (``postgresql://...``) receipts go to that PostgreSQL store, into the log of
        this workspace's signing key (``tollhouse/store/pg.py``), through the same writer thread;
        ``synchronous`` is then the server's business (commits are durable by default). Callers
        should resolve the URL with ``tollhouse.store.store_url(config)``."""
        if checkpoint_interval_s is not None and checkpoint_interval_s <= 0:
            raise ValueError("checkpoint_interval_s must be > 0")
        if synchronous not in ("normal", "full"):
            raise ValueError("synchronous must be 'normal' or 'full'")
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        state_dir = Path(state_dir)
        if url is not None:
            from tollhouse.store.receipts_pg import open_pg_writer

            writer = await anyio.to_thread.run_sync(
                open_pg_writer,
                state_dir,
                url,
                create,
                checkpoint_every,
                checkpoint_interval_s,
                tuple(witnesses),
            )
            writer.start()
            return cls(state_dir, writer.signer, writer, None, redactor, url)
        conn, signer = await anyio.to_thread.run_sync(_setup, state_dir, create, synchronous)
        writer = Writer(
            conn, state_dir / DB_NAME, signer, checkpoint_every, checkpoint_interval_s, tuple(witnesses)
        )
        writer.start()
        inline = _inline_connection(state_dir / DB_NAME) if synchronous == "normal" else None
        return cls(state_dir, signer, writer, inline, redactor)

    async def append(self, entry: dict[str, Any]) -> Receipt:
        """Append one entry; returns once it is committed. ValueError for a malformed entry.

        The one door to the database: every field passes the redactor here, so no caller can store
        an unredacted value, whatever it forgot."""
        if self._redactor is None:
            raise ReceiptStoreError(
                f"the receipt store {self.location} was opened without a redactor, so it cannot append; "
                "open it with ReceiptStore.open(..., redactor=Redactor.from_config(config)). "
                "Nothing was recorded"
            )
        checked = validate_entry(*redact_entry(entry, self._redactor))
        if self._inline is None:
            return await self._submit("append", checked)
        if self._closed:
            raise ReceiptStoreError(f"the receipt store {self.location} is closed; nothing was recorded")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt] = loop.create_future()
        self._pending.append((checked, future))
        if len(self._pending) == 1:
            if self._quiet:
                # The first append since the loop last went round commits at once, in the caller's
                # turn: no wait for the next iteration, whose other callbacks (a finished child's
                # pipes, say) would run first. Later appends in this iteration wait and share one
                # commit, so callers that pile up still get group commit.
                self._quiet = False
                loop.call_soon(self._settle)
                self._flush_inline()
            else:
                loop.call_soon(self._flush_inline)
        return await future

    def _settle(self) -> None:
        self._quiet = True

    def _flush_inline(self) -> None:
        """Commit every entry appended during the last loop iteration, in one transaction."""
        batch, self._pending = self._pending, []
        if not batch:  # already flushed by close()
            return
        conn = self._inline
        assert conn is not None
        if len(batch) == 1 and self._write_one_at_head(conn, *batch[0]):
            return
        entries = [entry for entry, _ in batch]
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            # Another writer holds the lock: the thread waits for it (busy timeout), the loop does not.
            for entry, future in batch:
                self._writer.submit(_Op("append", future.get_loop(), future, entry))
            return
        try:
            try:
                receipts = append_rows(conn, entries, self._writer.identity)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            error = ReceiptStoreError(
                f"could not write to the receipt store {self.db_path}: {exc}; nothing was recorded. "
                "Check that the file and its folder are writable and the disk is not full"
            )
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        self._head = (receipts[-1].seq, receipts[-1].hash)
        self._tree_if_due(receipts[0].seq, receipts[-1].seq)
        for (_, future), receipt in zip(batch, receipts, strict=True):
            if not future.done():  # a cancelled caller: its entry is committed all the same
                future.set_result(receipt)
        self._count_for_wal(len(batch))

    def _write_one_at_head(
        self, conn: sqlite3.Connection, entry: dict[str, Any], future: asyncio.Future[Receipt]
    ) -> bool:
        """The common case, one entry, as one statement (its own transaction) instead of four.

        It is hashed against the head this connection last wrote. If another writer has appended
        since, the row for seq+1 exists and the primary key refuses this one (seqs are gapless and
        rows are never deleted), so nothing can slip in between. False when this cannot be done: the
        head moved or is unknown, or the database is locked or failing; the
        transaction path then takes the entry and waits or reports properly."""
        if self._head is None:
            return False
        seq, prev = self._head
        rows, receipts = chain_entries([entry], seq, prev, self._writer.identity)
        try:
            conn.execute(INSERT_SQL, rows[0])
        except sqlite3.Error:
            self._head = None
            return False
        self._head = (receipts[0].seq, receipts[0].hash)
        self._tree_if_due(receipts[0].seq, receipts[0].seq)
        if not future.done():
            future.set_result(receipts[0])
        self._count_for_wal(1)
        return True

    def _tree_if_due(self, first: int, last: int) -> None:
        """A multiple of checkpoint_every was reached: the writer thread signs it, off the loop."""
        if crosses(first, last, self._writer.checkpoint_every):
            self._writer.submit(_Op("tree", None, None))

    def _count_for_wal(self, n: int) -> None:
        self._since_wal += n
        if self._since_wal >= WAL_EVERY:
            self._since_wal = 0
            self._writer.submit(_Op("wal", None, None))

    async def recover_interrupted(self) -> list[int]:
        """Close every intent whose writer has died with an ``interrupted`` entry.

        Returns the seqs of the new ``interrupted`` entries. Intents of live processes (another
        server sharing this workspace, or this one) are left open.
        """
        return await self._submit("recover")

    async def checkpoint(self) -> int | None:
        """Sign the current head now; returns the size it signed (None for an empty store)."""
        return await self._submit("checkpoint")

    async def close(self) -> None:
        """Write the pending entries and a final signed checkpoint, then stop the writer."""
        if self._closed:
            return
        try:
            if self._pending:  # entries appended just before close are still written
                self._flush_inline()
            await self._submit("checkpoint")
        finally:
            self._closed = True
            if self._inline is not None:
                self._inline.close()
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
            raise ReceiptStoreError(f"the receipt store {self.location} is closed; nothing was recorded")
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


def _inline_connection(db_path: Path) -> sqlite3.Connection:
    """The event loop's own connection: it never waits for a lock (busy_timeout 0, the thread does
    the waiting) and never checkpoints the WAL (an fsync; the thread does that too)."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


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
