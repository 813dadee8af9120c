"""``tollhouse store migrate --to postgresql://...``: a workspace's SQLite receipts into PostgreSQL.

The copy lands in the log of the workspace's signing key (the key that signed the SQLite
checkpoints), so it is the same log, moved: same seqs, hashes and signed notes. It is proved, not
trusted: after the copy, the PostgreSQL log is verified under the SOURCE's public key with every
checkpoint of the SOURCE as an anchor, so a row that changed on the way fails at its seq. A second
run copies only what is new; a target log that has diverged from the source is refused.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.read import connect_readonly
from tollhouse.receipts.schema import COLUMNS, now_rfc3339
from tollhouse.receipts.signing import key_id_of, load_public_key, public_key_path
from tollhouse.receipts.verifier import VerifyResult
from tollhouse.store.pg import connect, lock_id, redacted_url, schema_for, setup_log

_SELECT_AFTER = f"SELECT {COLUMNS} FROM receipts WHERE seq > ? ORDER BY seq"  # noqa: S608
_TABLES = {  # table -> (columns, key column): what a log holds besides its receipts
    "notes": ("size, root, time, note", "size"),
    "checkpoints": ("seq, head_hash, time, key_id, signature", "seq"),
    "merkle_nodes": ("id, hash", "id"),
}


@dataclass(frozen=True)
class Migrated:
    log_id: str
    copied: int
    """Receipts copied by this run (0 when the target already held them all)."""
    total: int
    result: VerifyResult
    """The target log verified against the source's key and checkpoints."""


def migrate_sqlite_to_pg(state_dir: Path, url: str) -> Migrated:
    """Copy ``state_dir/receipts.db`` into ``url`` and verify the copy; ReceiptStoreError when
    the source is unusable, the target has diverged, or the copy does not verify."""
    from tollhouse.store.receipts_pg import verify_pg

    db = Path(state_dir) / "receipts.db"
    pub_path = public_key_path(Path(state_dir))
    if not pub_path.exists():
        raise ReceiptStoreError(
            f"no public key for {db} at {pub_path}: the workspace's signing key is missing"
        )
    public = load_public_key(pub_path)
    log_id = key_id_of(public)
    src = connect_readonly(db)
    try:
        src.execute("BEGIN")  # one snapshot of the source, however long the copy takes
        tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        notes = (
            [(f"source checkpoint at size {s}", n) for s, n in src.execute("SELECT size, note FROM notes")]
            if "notes" in tables
            else []  # a v1 store: its v1 checkpoints are copied and checked as they are
        )
        setup_log(url, log_id, public, now_rfc3339())
        copied, total = _copy(src, url, log_id, tables)
    finally:
        src.close()
    # The source's tail after its last checkpoint (a server still running) is chained but not yet
    # signed: it is copied and checked link by link, and ``result.uncovered`` says how many.
    [checked] = verify_pg(
        url, log_ids=[log_id], keys={log_id: public}, anchors={log_id: notes}, require_head=False
    )
    if not checked.result.ok:
        raise ReceiptStoreError(
            f"the copy in {redacted_url(url)} (log {log_id}) does not verify against the source's "
            f"checkpoints: {checked.result.reason}"
        )
    return Migrated(log_id, copied, total, checked.result)


def _copy(src: sqlite3.Connection, url: str, log_id: str, tables: set[str]) -> tuple[int, int]:
    import psycopg

    dst = connect(url, autocommit=False)
    schema = schema_for(log_id)
    try:
        with dst.transaction():
            # Taken like a writer's: no server appends to this log while it is copied into.
            dst.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id(log_id),))
            dst.execute(f"SET LOCAL search_path TO {schema}, public")
            have = dst.execute("SELECT seq, hash FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
            since = 0
            if have is not None:
                since, head = have
                mine = src.execute("SELECT hash FROM receipts WHERE seq = ?", (since,)).fetchone()
                if mine is None or mine[0] != head:
                    raise ReceiptStoreError(
                        f"log {log_id} in {redacted_url(url)} already holds {since} receipts that are not "
                        "the source's first ones (another history under the same key); nothing was copied"
                    )
            (total,) = src.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()
            copied = _copy_rows(
                dst,
                f"receipts ({COLUMNS})",
                src.execute(_SELECT_AFTER, (since,)),
            )
            for table, (cols, key) in _TABLES.items():
                if table not in tables:
                    continue
                dst.execute(f"CREATE TEMP TABLE incoming_{table} (LIKE {table}) ON COMMIT DROP")
                _copy_rows(dst, f"incoming_{table} ({cols})", src.execute(f"SELECT {cols} FROM {table}"))  # noqa: S608
                dst.execute(
                    f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming_{table} "  # noqa: S608
                    f"ON CONFLICT ({key}) DO NOTHING"
                )
            for table, column in (("merkle_state", "size"), ("recovery", "closed_through")):
                if table not in tables:
                    continue
                row = src.execute(f"SELECT {column} FROM {table} WHERE id = 1").fetchone()  # noqa: S608
                if row is not None:
                    dst.execute(
                        f"INSERT INTO {table} (id, {column}) VALUES (1, %s) "  # noqa: S608
                        f"ON CONFLICT (id) DO UPDATE "
                        f"SET {column} = greatest({table}.{column}, excluded.{column})",
                        (row[0],),
                    )
        return copied, int(total)
    except psycopg.Error as exc:
        raise ReceiptStoreError(
            f"copying into {redacted_url(url)} failed: {str(exc).strip()}; nothing was copied"
        ) from exc
    finally:
        dst.close()


def _copy_rows(dst: Any, target: str, rows: Any) -> int:
    n = 0
    with dst.cursor().copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n
