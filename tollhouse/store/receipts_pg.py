"""Receipts on PostgreSQL: open a writer on this key's log, and verify every log in the store.

The writer is ``receipts/writer.py``'s, unchanged, over ``PgConn``: group commit (every append
waiting when a transaction starts shares its commit), checkpoints signed by the same code, and
recovery of dead processes' intents. Verification streams each log's rows through the same
``Verifier`` as SQLite, inside one REPEATABLE READ snapshot per log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import now_rfc3339
from tollhouse.receipts.signing import load_or_create_signer
from tollhouse.receipts.verifier import VERIFY_COLUMNS, VerifyResult
from tollhouse.receipts.witness import Witness
from tollhouse.receipts.writer import Receipt, Writer, _Op, chain_entries
from tollhouse.store.pg import PgConn, connect, list_logs, redacted_url, setup_log

log = logging.getLogger(__name__)
_ROWS = f"SELECT {VERIFY_COLUMNS} FROM receipts ORDER BY seq"  # noqa: S608  (constant columns)
_CPS = "SELECT seq, head_hash, time, key_id, signature FROM checkpoints ORDER BY seq"


def open_pg_writer(
    state_dir: Path,
    url: str,
    create: bool,
    checkpoint_every: int,
    interval_s: float | None,
    witnesses: tuple[Witness, ...],
) -> Writer:
    """Blocking part of ``ReceiptStore.open`` for PostgreSQL. The signing key stays in the
    workspace (operator home), exactly as for SQLite; its id names the log."""
    if not state_dir.exists():
        if not create:
            raise ReceiptStoreError(f"the state folder {state_dir} does not exist; run `tollhouse init`")
        try:
            state_dir.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise ReceiptStoreError(f"cannot create the state folder {state_dir}: {exc.strerror}") from exc
    signer = load_or_create_signer(state_dir, create=create)
    setup_log(url, signer.key_id, signer.public_raw, now_rfc3339())
    conn = PgConn(url, signer.key_id)
    where = f"{redacted_url(url)} (log {signer.key_id})"
    writer = PgWriter(conn, where, signer, checkpoint_every, interval_s, witnesses)  # type: ignore[arg-type]
    writer.hint = (
        "Check that the PostgreSQL server is running and reachable, and that the database is writable"
    )
    return writer


class PgWriter(Writer):
    """The writer thread, with appends in one round trip each batch (``PgConn.append_pipelined``).

    It chains a batch after the head it last wrote, without reading it; when another writer of the
    same log moved the head, the insert is refused whole and the batch goes the locked way (the head
    read inside the log's lock), which always succeeds. Everything else runs as on SQLite."""

    head: tuple[int, str] | None = None

    def _run_txn(self, ops: list[_Op], body: Callable[[], None]) -> None:
        if ops and all(op.kind == "append" for op in ops):
            self._append_batch(ops)
            return
        self.head = None  # recovery appends too: read the head afresh next time
        super()._run_txn(ops, body)

    def _append_batch(self, ops: list[_Op]) -> None:
        import psycopg

        if self.head is not None:
            entries = [op.entry for op in ops]
            rows, receipts = chain_entries(entries, *self.head, self.identity)  # type: ignore[arg-type]
            try:
                self.conn.append_pipelined(rows)  # type: ignore[attr-defined]
            except psycopg.Error as exc:
                # UniqueViolation: another writer of this log appended; or the connection was lost.
                # Either way the locked path below decides: it reconnects, or reports the failure.
                log.debug("pipelined append refused (%s); taking the locked path", type(exc).__name__)
            else:
                self.head = (receipts[-1].seq, receipts[-1].hash)
                for op, receipt in zip(ops, receipts, strict=True):
                    op.results = [receipt]
                self._resolve(ops)
                return
        # The head unknown or moved: BEGIN, the log's lock, the head read inside it, the inserts,
        # COMMIT, as on SQLite. It always makes progress, and leaves the head known.
        self.head = None
        super()._run_txn(ops, functools.partial(self._write_appends, ops))
        last = ops[-1].results[0] if ops[-1].results else None
        if isinstance(last, Receipt):
            self.head = (last.seq, last.hash)


@dataclass(frozen=True)
class LogResult:
    log_id: str
    result: VerifyResult
    pinned: bool
    """Whether the key came from the caller (pinned) rather than the store's own registry."""


def verify_pg(
    url: str,
    *,
    log_ids: Iterable[str] | None = None,
    keys: dict[str, bytes] | None = None,
    anchors: dict[str, list[tuple[str, str]]] | None = None,
    require_head: bool = True,
) -> list[LogResult]:
    """Verify every log in the store (or those named). ``keys`` pins public keys by log id: a key
    read from the store vouches only that the log is consistent with itself, since whoever can
    rewrite the database can rewrite that row too. ``anchors`` gives, by log id, signed notes held
    outside the store (a witness's copies, the SQLite checkpoints a copy came from): the log must
    hold entries whose Merkle root matches each. Raises ReceiptStoreError for an unknown log."""
    from tollhouse.receipts.verify import _verifier, verify_rows
    from tollhouse.store.pg_fast import pg_agrees

    conn = connect(url)
    try:
        logs = list_logs(conn)
        if log_ids is not None:
            wanted = list(log_ids)
            known = {log[0] for log in logs}
            missing = [w for w in wanted if w not in known]
            if missing:
                raise ReceiptStoreError(f"no log {', '.join(missing)} in {redacted_url(url)}")
            logs = [log for log in logs if log[0] in wanted]
        results = []
        agrees = pg_agrees(conn)  # outside the snapshots: a failed probe must not abort one
        for log_id, schema, stored_key in logs:
            pinned = keys is not None and log_id in keys
            key = keys[log_id] if pinned and keys is not None else stored_key
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                conn.execute(f"SET LOCAL search_path TO {schema}, public")
                notes = [r[0] for r in conn.execute("SELECT note FROM notes ORDER BY size")]
                cps = [
                    dict(zip(("seq", "head_hash", "time", "key_id", "signature"), r, strict=True))
                    for r in conn.execute(_CPS)
                ]
                log_anchors = (anchors or {}).get(log_id, [])
                result = None
                if agrees:
                    v = _verifier(key, require_head, notes, cps, log_anchors, None)
                    if _feed_fast(conn, url, log_id, v):
                        fast = v.finish()
                        result = fast if fast.ok else None
                if result is None:  # something is wrong (or unproven): the slow path says what
                    with conn.cursor(name=f"verify_{log_id}") as cur:
                        cur.itersize = 20_000
                        cur.execute(_ROWS)
                        result = verify_rows(
                            cur,
                            key,
                            notes=notes,
                            v1_checkpoints=cps,
                            anchors=log_anchors,
                            require_head=require_head,
                        )
            results.append(LogResult(log_id, result, pinned))
        return results
    finally:
        conn.close()


PARALLEL_MIN = 100_000
"""Entries below which a second process costs more than it saves."""


def _feed_fast(conn: Any, url: str, log_id: str, v: Any) -> bool:
    """Feed the log to ``v`` on the fast path, the second half checked by a second process when
    the log is large and there are two CPUs (``pg_range.py``); False when it cannot vouch."""
    import json
    import subprocess
    import sys

    from tollhouse.receipts.parallel import _cpus
    from tollhouse.store.pg_fast import canonical_select

    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()
    child = None
    mid = last
    if last >= PARALLEL_MIN and _cpus() >= 2:
        mid = last // 2
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "tollhouse.store.pg_range"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert child.stdin is not None
            stops = " ".join(str(s) for s in v.expects if mid < s <= last)
            child.stdin.write(f"{url}\n{log_id}\n{mid + 1} {last}\n{stops}\n".encode())
            child.stdin.close()
        except OSError:
            child, mid = None, last
    try:
        with conn.cursor(name=f"fast_{log_id}") as cur:
            cur.itersize = 20_000
            cur.execute(canonical_select(bounded=True), (0, mid))
            ok = v.feed_canonical(cur) and v.count == mid
        if child is None:
            return ok
        assert child.stdout is not None
        out = child.stdout.read() if ok else b""
        child.wait()
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
    if not ok or child.returncode != 0 or out[:1] != b"{":
        return False
    try:
        return bool(v.join_range(json.loads(out), last))
    except ValueError:
        return False


def log_rows(url: str, log_id: str) -> list[dict[str, Any]]:
    """Every entry of one log in chain order, as stored (tests and small exports)."""
    from tollhouse.receipts.schema import FIELDS
    from tollhouse.store.pg import SELECT_ALL, schema_for

    conn = connect(url)
    try:
        conn.execute(f"SET search_path TO {schema_for(log_id)}, public")
        return [dict(zip(FIELDS, r, strict=True)) for r in conn.execute(SELECT_ALL)]
    finally:
        conn.close()


def pg_status(url: str) -> list[dict[str, Any]]:
    """Per log: id, entries, head hash, newest signed size, and when it was first written."""
    conn = connect(url)
    try:
        out = []
        for log_id, schema, _key in list_logs(conn):
            conn.execute(f"SET search_path TO {schema}, public")
            head = conn.execute("SELECT seq, hash, time FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
            (signed,) = conn.execute("SELECT coalesce(max(size), 0) FROM notes").fetchone()
            out.append(
                {
                    "log_id": log_id,
                    "entries": head[0] if head else 0,
                    "head": head[1] if head else None,
                    "last_time": head[2] if head else None,
                    "signed_through": int(signed),
                }
            )
        return out
    finally:
        conn.close()


class _Streaming:
    """``execute`` over server-side cursors, so a bundle of any size streams (``write_bundle``)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.n = 0

    def execute(self, sql: str) -> Any:
        self.n += 1
        cur = self.conn.cursor(name=f"export_{self.n}")
        cur.itersize = 20_000
        cur.execute(sql)
        return cur


def export_pg(url: str, out_dir: Path, log_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One bundle per log (``<log id>.jsonl`` in ``out_dir``), each read in one snapshot; the
    headers written. ``receipts verify BUNDLE`` checks each exactly as a SQLite export."""
    from tollhouse.receipts.bundle import write_bundle

    conn = connect(url)
    try:
        logs = list_logs(conn)
        if log_ids is not None:
            wanted = list(log_ids)
            missing = [w for w in wanted if w not in {log[0] for log in logs}]
            if missing:
                raise ReceiptStoreError(f"no log {', '.join(missing)} in {redacted_url(url)}")
            logs = [log for log in logs if log[0] in wanted]
        headers = []
        for log_id, schema, key in logs:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                conn.execute(f"SET LOCAL search_path TO {schema}, public")
                headers.append(write_bundle(_Streaming(conn), out_dir / f"{log_id}.jsonl", key))
        return headers
    finally:
        conn.close()
