"""PostgreSQL under the receipt writer: one log per signing key, each in its own schema.

Many writers, one verifiable record: every server (a replica, a CI job, a laptop) appends to its
OWN log, named by its signing key's id, so writers never contend for one chain head and each log
stays a plain hash chain + Merkle tree that its key signs. A log lives in a PostgreSQL schema of its
own (``log_<key id>``) holding exactly the SQLite store's tables (receipts, notes, merkle_nodes,
merkle_state, recovery, checkpoints); ``tollhouse_logs`` lists the logs and their public keys.
Because the tables are the same, the writer thread, the Merkle code and recovery run unchanged over
``PgConn``, a small adapter that speaks the part of sqlite3's interface they use.

Two processes holding the same key (two servers on one workspace) share its log: ``BEGIN
IMMEDIATE`` becomes ``BEGIN`` plus a transaction-scoped advisory lock on the log, which serialises
them exactly as SQLite's write lock does, and lets other logs' writers run in parallel.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import COLUMNS, FIELDS

PG_SCHEMA_VERSION = 2
"""The receipt schema version of a log; the same number as SQLite's ``PRAGMA user_version``."""
CONNECT_TIMEOUT_S = 10
_SETUP_LOCK = 0x7011_4005E  # advisory lock id held while a process creates tables
_KEY_ID = re.compile(r"^[0-9a-f]{8,64}$")

_APPEND_ONLY_FN = """
CREATE OR REPLACE FUNCTION tollhouse_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% are append-only', TG_TABLE_NAME; END $$;
"""
REGISTRY_DDL = f"""
CREATE TABLE IF NOT EXISTS public.tollhouse_logs (
    log_id TEXT PRIMARY KEY,        -- the signing key's id: the log's name
    schema_name TEXT NOT NULL UNIQUE,
    public_key BYTEA NOT NULL,      -- raw Ed25519; a verifier may pin its own copy instead
    created_at TEXT NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT {PG_SCHEMA_VERSION}
);
"""

_TEXT = {"seq": "BIGINT PRIMARY KEY", "duration_us": "BIGINT", "kind": "TEXT NOT NULL"}
_TEXT |= {"time": "TEXT NOT NULL", "prev_hash": "TEXT NOT NULL", "hash": "TEXT NOT NULL"}


def log_ddl() -> str:
    """The tables of one log, in the current search_path (its schema). Same as SQLite's ``DDL``."""
    cols = ",\n    ".join(f"{name} {_TEXT.get(name, 'TEXT')}" for name in FIELDS)
    guards = "".join(
        f"DROP TRIGGER IF EXISTS {t}_append_only ON {t};\n"
        f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t}\n"
        "    FOR EACH ROW EXECUTE FUNCTION public.tollhouse_append_only();\n"
        for t in ("receipts", "notes", "checkpoints")
    )
    return f"""
CREATE TABLE IF NOT EXISTS receipts (
    {cols}
);
CREATE INDEX IF NOT EXISTS receipts_call ON receipts(call_id);
CREATE INDEX IF NOT EXISTS receipts_case_seq ON receipts(case_id) WHERE case_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS receipts_case_work ON receipts(case_id, tool, kind, outcome)
    WHERE case_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS recovery (id INTEGER PRIMARY KEY CHECK (id = 1), closed_through BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq BIGINT PRIMARY KEY, head_hash TEXT NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS merkle_nodes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS merkle_state (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS notes (
    size BIGINT PRIMARY KEY, root TEXT NOT NULL, time TEXT NOT NULL, note TEXT NOT NULL
);
{guards}"""


def schema_for(log_id: str) -> str:
    if not _KEY_ID.match(log_id):
        raise ReceiptStoreError(f"{log_id!r} is not a signing key id (lower-case hex)")
    return f"log_{log_id}"


def lock_id(log_id: str) -> int:
    """The advisory lock of one log: 63 bits of a hash of its id."""
    return int.from_bytes(hashlib.sha256(log_id.encode()).digest()[:8], "big") >> 1


def redacted_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unparsable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def connect(url: str, *, autocommit: bool = True) -> Any:
    """A psycopg connection; ReceiptStoreError saying why when the server cannot be reached."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise ReceiptStoreError(
            f"cannot connect to the PostgreSQL store {redacted_url(url)}: {str(exc).strip()}; "
            "check that the server runs and the URL ([store] url or TOLLHOUSE_STORE_URL) is right. "
            "Nothing was recorded"
        ) from exc


class _NoRows:
    """What a SQLite-only statement (PRAGMA) returns here: nothing to do on PostgreSQL."""

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []

    def __iter__(self) -> Any:
        return iter(())


def _translate(sql: str) -> str:
    sql = sql.replace("?", "%s")
    if sql.lstrip().startswith("INSERT OR IGNORE"):
        sql = sql.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
    return sql


class PgConn:
    """The slice of ``sqlite3.Connection`` the writer and the Merkle code use, over one log's schema.

    Reconnects at the start of a transaction when the server went away and came back; while it is
    away every transaction fails, so every append fails and nothing with a side effect runs."""

    def __init__(self, url: str, log_id: str) -> None:
        self.url = url
        self.log_id = log_id
        self.schema = schema_for(log_id)
        self._lock = lock_id(log_id)
        self._conn = self._open()

    def _open(self) -> Any:
        conn = connect(self.url)
        conn.execute(f"SET search_path TO {self.schema}, public")
        return conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        head = sql.lstrip()[:16].upper()
        if head.startswith("BEGIN"):
            if self._conn.closed or self._conn.broken:
                self._conn = self._open()
            # BEGIN IMMEDIATE's meaning: this log's writers, in any process, take turns. One round
            # trip for both (the lock id is our own integer, never input).
            self._conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({self._lock:d})".encode())
            return _NoRows()
        if head.startswith("PRAGMA"):
            return _NoRows()
        return self._conn.execute(_translate(sql), params or None)

    def append_pipelined(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert chained rows in ONE round trip: BEGIN, the log's lock, the inserts and COMMIT go
        out together (libpq pipeline mode). The caller chained them after the head it last saw; if
        another writer of this log appended since, the primary key refuses the first row (seqs are
        gapless and never deleted), psycopg raises UniqueViolation and nothing is written."""
        import psycopg

        if self._conn.closed or self._conn.broken:
            self._conn = self._open()
        conn = self._conn
        try:
            with conn.pipeline(), conn.cursor() as cur:
                cur.execute(b"BEGIN")
                cur.execute(f"SELECT pg_advisory_xact_lock({self._lock:d})".encode())
                cur.executemany(INSERT_PG, rows)
                cur.execute(b"COMMIT")
        except psycopg.Error:
            # A new connection rather than ROLLBACK: after an aborted pipeline psycopg may believe
            # statements are prepared that never were. The server rolls the transaction back.
            conn.close()
            raise

    def executemany(self, sql: str, rows: Any) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(_translate(sql), rows)

    def close(self) -> None:
        self._conn.close()


def setup_log(url: str, log_id: str, public_raw: bytes, created_at: str) -> None:
    """Create the registry and this key's log (idempotent, safe when many servers start at once)."""
    import psycopg

    conn = connect(url, autocommit=False)
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            conn.execute(_APPEND_ONLY_FN)
            conn.execute(REGISTRY_DDL)
            row = conn.execute(
                "SELECT public_key, schema_version FROM public.tollhouse_logs WHERE log_id = %s", (log_id,)
            ).fetchone()
            if row is not None and bytes(row[0]) != public_raw:
                raise ReceiptStoreError(
                    f"the PostgreSQL store already has a log {log_id} under another public key; "
                    "refusing to append to it"
                )
            if row is not None and row[1] > PG_SCHEMA_VERSION:
                raise ReceiptStoreError(
                    f"log {log_id} was written by a newer tollhouse (schema {row[1]}); upgrade tollhouse"
                )
            schema = schema_for(log_id)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.execute(f"SET LOCAL search_path TO {schema}, public")
            conn.execute(log_ddl())
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 'receipts' ORDER BY ordinal_position",
                    (schema,),
                )
            ]
            if tuple(columns) != FIELDS:
                raise ReceiptStoreError(
                    f"{schema}.receipts has other columns; it is not a tollhouse log of this version"
                )
            if row is None:
                conn.execute(
                    "INSERT INTO public.tollhouse_logs (log_id, schema_name, public_key, created_at) "
                    "VALUES (%s, %s, %s, %s)",
                    (log_id, schema, public_raw, created_at),
                )
    except psycopg.Error as exc:
        raise ReceiptStoreError(
            f"cannot set up the PostgreSQL store {redacted_url(url)}: {str(exc).strip()}; "
            "nothing was recorded"
        ) from exc
    finally:
        conn.close()


def list_logs(conn: Any) -> list[tuple[str, str, bytes]]:
    """``(log_id, schema, public_key)`` of every log, oldest first; [] when the store is empty."""
    exists = conn.execute("SELECT to_regclass('public.tollhouse_logs')").fetchone()[0]
    if exists is None:
        return []
    return [
        (r[0], r[1], bytes(r[2]))
        for r in conn.execute(
            "SELECT log_id, schema_name, public_key FROM public.tollhouse_logs ORDER BY created_at, log_id"
        )
    ]


SELECT_ALL = f"SELECT {COLUMNS} FROM receipts ORDER BY seq"  # noqa: S608  (constant columns)
INSERT_PG = f"INSERT INTO receipts ({COLUMNS}) VALUES ({', '.join(['%s'] * len(FIELDS))})"  # noqa: S608
