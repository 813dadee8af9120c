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
import logging
import operator
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollhouse.receipts import process
from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.merkle_store import TreeReader, extend_and_sign, last_note_size
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
from tollhouse.receipts.witness import Witness, publish

log = logging.getLogger(__name__)

MAX_BATCH = 4096


@dataclass(frozen=True)
class Receipt:
    """What an append returns once the entry is committed."""

    seq: int
    hash: str
    time: str


@dataclass
class _Op:
    kind: str  # append | recover | checkpoint (sign the head) | tree (sign due multiples) | wal | stop
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    entry: dict[str, Any] | None = None
    results: list[Any] = field(default_factory=list)
    notes: list[tuple[int, bytes, str]] = field(default_factory=list)


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


def append_rows(conn: sqlite3.Connection, entries: list[dict[str, Any]], identity: str) -> list[Receipt]:
    """Chain and insert entries inside an open write transaction (the caller began it IMMEDIATE).

    The head is read inside the transaction, so every connection that appends, in this process or
    another, extends the same chain. Checkpoints are not signed here: see ``crosses``.
    """
    row = conn.execute("SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = row if row else (0, ZERO_HASH)
    rows, receipts = chain_entries(entries, seq, prev, identity)
    conn.executemany(INSERT_SQL, rows)
    return receipts


def crosses(first_seq: int, last_seq: int, every: int) -> bool:
    """Whether seqs first..last include a multiple of ``every`` (a checkpoint is then due)."""
    return last_seq // every > (first_seq - 1) // every


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


class Writer(threading.Thread):
    def __init__(
        self,
        conn: sqlite3.Connection,
        db_path: Path | str,
        signer: Signer,
        checkpoint_every: int,
        interval_s: float | None = None,
        witnesses: tuple[Witness, ...] = (),
    ):
        super().__init__(name=f"tollhouse-receipts:{getattr(db_path, 'name', 'postgresql')}", daemon=True)
        self.conn = conn
        self.db_path = db_path
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.interval_s = interval_s
        self.witnesses = witnesses
        self.hint = "Check that the file and its folder are writable and the disk is not full"
        """What to check when a write fails; a PostgreSQL store says to check its server."""
        self.witness_problems: list[str] = []
        """What the last witness writes refused or failed (the server logs them; verify finds them)."""
        self._last_signed = time.monotonic()
        self.identity = process.current_identity()
        self.queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()

    def submit(self, op: _Op) -> None:
        self.queue.put(op)

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        stopping: _Op | None = None
        while stopping is None:
            try:
                batch = [self.queue.get(timeout=self._until_interval())]
            except queue.Empty:
                self._interval_checkpoint()
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            appends = [op for op in batch if op.kind == "append"]
            if appends:
                self._run_txn(appends, functools.partial(self._write_appends, appends))
                done = [op.results[0] for op in appends if op.results and isinstance(op.results[0], Receipt)]
                if done and crosses(done[0].seq, done[-1].seq, self.checkpoint_every):
                    batch.append(_Op("tree", None, None))
            tree_done = False
            for op in batch:
                if op.kind == "recover":
                    self._run_txn([op], functools.partial(self._recover, op))
                elif op.kind == "checkpoint":
                    self._run_txn([op], functools.partial(self._checkpoint_head, op, True))
                elif op.kind == "tree" and not tree_done:  # several requests in one batch: one pass
                    tree_done = True
                    self._run_txn([op], functools.partial(self._checkpoint_head, op, False))
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

    def _until_interval(self) -> float | None:
        if self.interval_s is None:
            return None
        return max(0.0, self._last_signed + self.interval_s - time.monotonic())

    def _interval_checkpoint(self) -> None:
        """The interval passed with no request: sign the head if anything is new since the last note."""
        self._last_signed = time.monotonic()
        op = _Op("checkpoint", None, None)
        self._run_txn([op], functools.partial(self._checkpoint_head, op, True))

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
            error = (
                exc  # a refusal that already says what is wrong (a checkpoint over a broken chain)
                if isinstance(exc, ReceiptStoreError)
                else ReceiptStoreError(
                    f"could not write to the receipt store {self.db_path}: {exc}; nothing was recorded. "
                    + self.hint
                )
            )
            if error is not exc:
                error.__cause__ = exc
            for op in ops:
                op.results = [error]
        else:
            for op in ops:
                if op.notes:
                    self._publish(op.notes)
        self._resolve(ops)

    # -- work done inside a transaction --------------------------------------------------------
    def _append_rows(self, entries: list[dict[str, Any]]) -> list[Receipt]:
        return append_rows(self.conn, entries, self.identity)

    def _write_appends(self, ops: list[_Op]) -> None:
        receipts = self._append_rows([op.entry for op in ops])  # type: ignore[misc]
        for op, receipt in zip(ops, receipts, strict=True):
            op.results = [receipt]

    def _checkpoint_head(self, op: _Op, at_head: bool) -> None:
        """Extend the Merkle tree and sign the due checkpoints (and the head when ``at_head``).

        Results: the size of the newest note, or None when the store is empty. Witnesses are
        written after this transaction commits (``_resolve`` runs them)."""
        written = extend_and_sign(self.conn, self.signer, self.checkpoint_every, at_head)
        if at_head:
            self._last_signed = time.monotonic()
        if written:
            op.notes = written
        op.results = [last_note_size(self.conn) or None]

    def _publish(self, notes: list[tuple[int, bytes, str]]) -> None:
        if not self.witnesses or not notes:
            return
        size, _root, note = notes[-1]
        reader = TreeReader(self.conn)
        problems = []
        for folder in self.witnesses:
            problem = publish(folder, note, size, self.signer.key_id, self.signer.public_raw, reader.root)
            if problem:
                log.warning("%s", problem)
                problems.append(problem)
        self.witness_problems = problems

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
