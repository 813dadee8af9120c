"""Shared state on PostgreSQL: grants, pins, memory, cases and handoffs every server sees at once.

With a PostgreSQL store, the state that must hold across servers lives there too: a grant with one
use is spent by exactly one call among every server (the spending ``UPDATE ... WHERE uses_left > 0``
re-checks its condition on the row's newest version after waiting for a concurrent spender, so the
second finds nothing left), a proposal is reviewed once (``UPDATE ... WHERE status = 'proposed'``
likewise), and a pin, a case or a handoff written by one replica is read by the next call on any.

The tables are the SQLite ones (``state/db.py``), created by the same numbered migrations: the
version a PostgreSQL store is at means the same schema as that ``PRAGMA user_version``. The modules
in ``tollhouse/state`` reach them through ``state.store`` (this class, or the SQLite ``StateDB``).

Every write's text parameters pass the redactor, exactly as ``RedactingConnection`` does for SQLite.
Rows read back support ``row["name"]`` and ``row[0]``, like ``sqlite3.Row``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from tollhouse.gate.redact import Redactor
from tollhouse.state.db import StateError, _redacted_params
from tollhouse.store.pg import CONNECT_TIMEOUT_S, redacted_url

_MIGRATE_LOCK = 0x7011_4005F

# Same numbering as state/db.py MIGRATIONS; append only, never edit a released one.
PG_MIGRATIONS: list[str] = [
    """
    CREATE TABLE grants (
        id TEXT PRIMARY KEY, tool TEXT NOT NULL, args_match TEXT NOT NULL, args_digest TEXT,
        created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION, uses_left INTEGER,
        revoked_at DOUBLE PRECISION, created_by TEXT NOT NULL, note TEXT NOT NULL DEFAULT ''
    )
    """,
    """
    CREATE TABLE facts (
        id BIGSERIAL PRIMARY KEY, subject TEXT NOT NULL, predicate TEXT NOT NULL,
        object TEXT NOT NULL DEFAULT '', text TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '',
        source TEXT, author TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('proposed','accepted','rejected','superseded')),
        supersedes BIGINT REFERENCES facts(id), superseded_by BIGINT REFERENCES facts(id),
        reviewed_by TEXT, review_note TEXT,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX facts_subject ON facts(subject, predicate, status);
    CREATE INDEX facts_status ON facts(status, updated_at);
    CREATE TABLE fact_tags (tag TEXT NOT NULL, fact_id BIGINT NOT NULL, PRIMARY KEY (tag, fact_id));
    """,
    """
    CREATE TABLE cases (
        id TEXT PRIMARY KEY, title TEXT NOT NULL, goal TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL CHECK (status IN ('open','blocked','done')), tags TEXT NOT NULL DEFAULT '',
        created_by TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE case_notes (
        id BIGSERIAL PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), author TEXT NOT NULL,
        text TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE handoffs (
        id BIGSERIAL PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id),
        kind TEXT NOT NULL CHECK (kind IN ('progress','done','blocked','failed','interrupted')),
        summary TEXT NOT NULL, done TEXT NOT NULL DEFAULT '[]', next_steps TEXT NOT NULL DEFAULT '[]',
        blockers TEXT NOT NULL DEFAULT '[]', receipts TEXT NOT NULL DEFAULT '[]', last_receipt_seq BIGINT,
        status_after TEXT NOT NULL, author TEXT NOT NULL, session TEXT, created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX case_notes_case ON case_notes(case_id, id);
    CREATE INDEX handoffs_case ON handoffs(case_id, id);
    """,
    """
    CREATE TABLE github_pins (
        session TEXT NOT NULL, repo TEXT NOT NULL, pinned_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (session, repo)
    )
    """,
]


class Row(tuple):  # type: ignore[type-arg]
    """A result row readable by column name or position, like ``sqlite3.Row``."""

    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    names = [c.name for c in cursor.description] if cursor.description else []
    cls = type("Row", (Row,), {"_index": {n: i for i, n in enumerate(names)}})
    return lambda values: cls(values)


def _sql(sql: str) -> str:
    sql = sql.replace("?", "%s")
    if sql.lstrip().startswith("INSERT OR IGNORE"):
        sql = sql.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
    return sql


def migrate(conn: Any) -> int:
    """Bring the state tables to the newest version (sync connection); the version reached."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.tollhouse_state "
            "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
        )
        row = conn.execute("SELECT version FROM public.tollhouse_state WHERE id = 1").fetchone()
        version = row[0] if row else 0
        if version > len(PG_MIGRATIONS):
            raise StateError(
                f"the PostgreSQL state is at schema version {version}, newer than this tollhouse "
                f"understands ({len(PG_MIGRATIONS)}); upgrade tollhouse"
            )
        for index in range(version + 1, len(PG_MIGRATIONS) + 1):
            conn.execute(PG_MIGRATIONS[index - 1])
            version = index
        conn.execute(
            "INSERT INTO public.tollhouse_state (id, version) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (version,),
        )
    return version


def _connect(url: str, *, row_factory: Any = None) -> Any:
    import psycopg

    try:
        return psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, row_factory=row_factory
        )
    except psycopg.Error as exc:
        raise StateError(
            f"cannot connect to the PostgreSQL state {redacted_url(url)}: {str(exc).strip()}"
        ) from exc


class SyncState:
    """A migrated, redacting sync connection to the shared state (the CLI's ``open_sync``)."""

    def __init__(self, url: str, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or Redactor()
        self._conn = _connect(url, row_factory=_row_factory)
        try:
            migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(_sql(sql), _redacted_params(self.redactor, sql, params) or None)

    def close(self) -> None:
        self._conn.close()


class _Result:
    """What ``execute`` returns: awaited, the cursor (grants and pins); entered with ``async with``,
    the cursor too (memory, cases), as aiosqlite's result is both."""

    def __init__(self, run: Any) -> None:
        self._run = run

    def __await__(self) -> Any:
        return self._run().__await__()

    async def __aenter__(self) -> Any:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class _AsyncConn:
    """The slice of aiosqlite's connection that the state modules use, over psycopg's async one."""

    def __init__(self, conn: Any, redactor: Redactor) -> None:
        self._conn = conn
        self.redactor = redactor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        args = _redacted_params(self.redactor, sql, params) or None
        # A literal % (LIKE patterns are parameters, but be safe) only means a placeholder with args.
        query = _sql(sql.replace("%", "%%") if args else sql)

        async def run() -> Any:
            return await self._conn.execute(query, args)

        return _Result(run)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = [_redacted_params(self.redactor, sql, r) for r in rows]
        if not rows:
            return
        async with self._conn.cursor() as cur:
            await cur.executemany(_sql(sql), rows)


class SharedState:
    """Grants and pins on PostgreSQL, for the server: ``conn`` and ``write()`` as ``StateDB`` has."""

    def __init__(self, url: str, conn: Any, redactor: Redactor) -> None:
        self.path = redacted_url(url)
        self.conn = _AsyncConn(conn, redactor)
        self.redactor = redactor
        self._raw = conn
        self._write_lock = anyio.Lock()

    dialect = "postgresql"

    @property
    def store(self) -> SharedState:
        return self

    @classmethod
    async def open(cls, url: str, redactor: Redactor) -> SharedState:
        import psycopg

        await anyio.to_thread.run_sync(lambda: SyncState(url).close())  # migrate once, with the lock
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, row_factory=_row_factory
            )
        except psycopg.Error as exc:
            where = redacted_url(url)
            raise StateError(f"cannot connect to the PostgreSQL state {where}: {str(exc).strip()}") from exc
        return cls(url, conn, redactor)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_AsyncConn]:
        """One transaction; this process's tasks take turns on the connection."""
        async with self._write_lock, self._raw.transaction():
            yield self.conn

    async def close(self) -> None:
        await self._raw.close()
