"""The one thread that writes a store's receipts: group commit over a stdlib sqlite3 connection.

Callers on the event loop put work on a queue and await a future. The thread takes everything that is
waiting, writes it in ONE transaction and resolves all the futures together: under load, 32 callers
share one commit (one fsync with ``synchronous=full``) instead of paying one each.

Inside the transaction (``BEGIN IMMEDIATE`` holds SQLite's write lock) the thread reads the chain head
afresh, so several processes appending to the same database still build one gapless chain.
"""

from __future__ import annotations

import asyncio
import functools
import operator
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollhouse.receipts import process
from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import (
    COLUMNS,
    FIELDS,
    INSERT_SQL,
    ZERO_HASH,
    entry_hash,
    make_entry,
    now_rfc3339,
)
from tollhouse.receipts.signing import Signer

MAX_BATCH = 4096


@dataclass(frozen=True)
class Receipt:
    """What an append returns once the entry is committed."""

    seq: int
    hash: str
    time: str


@dataclass
class _Op:
    kind: str  # append | recover | checkpoint | wal | stop
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    entry: dict[str, Any] | None = None
    results: list[Any] = field(default_factory=list)


# Open intents after a seq: no later outcome or interrupted entry for the same call. COLUMNS is a
# constant.
_OPEN_INTENTS = f"""
SELECT {COLUMNS} FROM receipts AS i
WHERE i.seq > ? AND i.kind = 'intent' AND NOT EXISTS (
    SELECT 1 FROM receipts AS o
    WHERE o.call_id = i.call_id AND o.seq > i.seq AND o.kind IN ('outcome', 'interrupted'))
ORDER BY i.seq
"""  # noqa: S608
_COPIED = ("operator", "credentials", "channel", "client", "session", "case_id", "tool")
_COPIED += ("args_digest", "decision", "rules", "policy_hash", "approver")


def append_rows(
    conn: sqlite3.Connection,
    entries: list[dict[str, Any]],
    identity: str,
    checkpoint_every: int,
    signer: Signer,
) -> list[Receipt]:
    """Chain and insert entries inside an open write transaction (the caller began it IMMEDIATE).

    The head is read inside the transaction, so every connection that appends, in this process or
    another, extends the same chain.
    """
    row = conn.execute("SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = row if row else (0, ZERO_HASH)
    rows, receipts = chain_entries(entries, seq, prev, identity)
    conn.executemany(INSERT_SQL, rows)
    for receipt in receipts:
        if receipt.seq % checkpoint_every == 0:
            insert_checkpoint(conn, signer, receipt.seq, receipt.hash)
    return receipts


_row = operator.itemgetter(*FIELDS)


def chain_entries(
    entries: list[dict[str, Any]], seq: int, prev: str, identity: str
) -> tuple[list[tuple[Any, ...]], list[Receipt]]:
    """Give entries their place after (seq, prev): seq, time, prev_hash, hash; and their rows."""
    now = now_rfc3339()
    rows: list[tuple[Any, ...]] = []
    receipts: list[Receipt] = []
    for entry in entries:
        seq += 1
        entry["seq"] = seq
        entry["time"] = now
        entry["prev_hash"] = prev
        if entry["process"] is None:
            entry["process"] = identity
        prev = entry["hash"] = entry_hash(entry)
        rows.append(_row(entry))
        receipts.append(Receipt(seq, prev, now))
    return rows, receipts


def insert_checkpoint(conn: sqlite3.Connection, signer: Signer, seq: int, head_hash: str) -> None:
    now = now_rfc3339()
    signature = signer.sign_checkpoint(seq, head_hash, now)
    conn.execute(
        "INSERT OR IGNORE INTO checkpoints (seq, head_hash, time, key_id, signature) VALUES (?,?,?,?,?)",
        (seq, head_hash, now, signer.key_id, signature),
    )


class Writer(threading.Thread):
    def __init__(self, conn: sqlite3.Connection, db_path: Path, signer: Signer, checkpoint_every: int):
        super().__init__(name=f"tollhouse-receipts:{db_path.name}", daemon=True)
        self.conn = conn
        self.db_path = db_path
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.identity = process.current_identity()
        self.queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()

    def submit(self, op: _Op) -> None:
        self.queue.put(op)

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        stopping: _Op | None = None
        while stopping is None:
            batch = [self.queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            appends = [op for op in batch if op.kind == "append"]
            if appends:
                self._run_txn(appends, functools.partial(self._write_appends, appends))
            for op in batch:
                if op.kind == "recover":
                    self._run_txn([op], functools.partial(self._recover, op))
                elif op.kind == "checkpoint":
                    self._run_txn([op], functools.partial(self._checkpoint_head, op))
                elif op.kind == "wal":
                    # The inline connection never checkpoints the WAL itself (that would fsync on the
                    # event loop); this thread does it, without waiting for readers (PASSIVE).
                    try:
                        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error:
                        pass  # a busy database checkpoints next time; nothing is lost
                elif op.kind == "stop":
                    stopping = op
        # Anything queued behind the stop request is refused rather than left hanging.
        leftovers: list[_Op] = []
        while True:
            try:
                leftovers.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for op in leftovers:
            op.results = [ReceiptStoreError("the receipt store was closed before this entry was written")]
        self._resolve(leftovers)
        try:
            self.conn.close()
        finally:
            stopping.results = [None]
            self._resolve([stopping])

    def _run_txn(self, ops: list[_Op], body: Callable[[], None]) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                body()
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            error = ReceiptStoreError(
                f"could not write to the receipt store {self.db_path}: {exc}; nothing was recorded. "
                "Check that the file and its folder are writable and the disk is not full"
            )
            error.__cause__ = exc
            for op in ops:
                op.results = [error]
        self._resolve(ops)

    # -- work done inside a transaction --------------------------------------------------------
    def _append_rows(self, entries: list[dict[str, Any]]) -> list[Receipt]:
        return append_rows(self.conn, entries, self.identity, self.checkpoint_every, self.signer)

    def _insert_checkpoint(self, seq: int, head_hash: str) -> None:
        insert_checkpoint(self.conn, self.signer, seq, head_hash)

    def _write_appends(self, ops: list[_Op]) -> None:
        receipts = self._append_rows([op.entry for op in ops])  # type: ignore[misc]
        for op, receipt in zip(ops, receipts, strict=True):
            op.results = [receipt]

    def _checkpoint_head(self, op: _Op) -> None:
        row = self.conn.execute("SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            op.results = [None]
            return
        self._insert_checkpoint(row[0], row[1])
        op.results = [row[0]]

    def _recover(self, op: _Op) -> None:
        """Close the intents of dead processes. Only intents after the recovery mark are read: every
        intent at or below it was closed when it was set, and an outcome is never taken back, so
        a start costs the same with a million receipts as with a hundred."""
        row = self.conn.execute("SELECT closed_through FROM recovery WHERE id = 1").fetchone()
        since = row[0] if row else 0
        (head,) = self.conn.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()
        entries = []
        still_open = []
        for values in self.conn.execute(_OPEN_INTENTS, (since,)).fetchall():
            intent = dict(zip(FIELDS, values, strict=True))
            if process.is_alive(intent["process"]):
                still_open.append(intent["seq"])
                continue  # another server sharing this workspace is still running that call
            entries.append(
                make_entry(
                    "interrupted",
                    intent["call_id"],
                    outcome="interrupted",
                    message=f"the process that wrote intent {intent['seq']} ({intent['process']}) ended "
                    "before recording an outcome; the tool may or may not have run to completion",
                    details={"intent_seq": intent["seq"], "intent_process": intent["process"]},
                    **{name: intent[name] for name in _COPIED},
                )
            )
        op.results = [[r.seq for r in self._append_rows(entries)] if entries else []]
        closed_through = min(still_open) - 1 if still_open else head
        self.conn.execute(
            "INSERT INTO recovery (id, closed_through) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET closed_through = excluded.closed_through",
            (closed_through,),
        )

    # -- back to the callers -------------------------------------------------------------------
    def _resolve(self, ops: list[_Op]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Op]] = defaultdict(list)
        for op in ops:
            if op.loop is not None:
                by_loop[op.loop].append(op)
        for loop, group in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, group)  # one wake-up per loop per batch
            except RuntimeError:
                pass  # that event loop is closed: nobody is waiting any more


def _settle(ops: list[_Op]) -> None:
    for op in ops:
        fut = op.future
        if fut is None or fut.done():  # a cancelled caller: its entry may still be committed
            continue
        result = op.results[0] if op.results else ReceiptStoreError("receipt writer gave no result")
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)
