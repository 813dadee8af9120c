"""``.tollhouse/state.db``: grants, memory, cases and handoffs, with forward-only migrations.

Every connection this module opens is a ``RedactingConnection``: each text parameter of a statement
that writes (anything but SELECT/PRAGMA/EXPLAIN) passes the redactor inside ``execute`` itself, so no
write path (a fact, a note, a handoff, a grant, a pin, one added later) can store a secret by forgetting
to redact it. The server's state carries the gate's redactor (known credential values too); a CLI
connection carries one with the token-shape detectors and the configured environment values.
A write's WHERE parameters are redacted too, which matches what was stored; reads (full-text
searches among them) keep theirs.

Schema changes are an ordered list of small migration functions (the simonw/llm way). The version
lives in ``PRAGMA user_version``; each migration runs in its own ``BEGIN IMMEDIATE`` transaction and
re-reads the version inside it, so several server processes starting together migrate exactly once.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio

from tollhouse.gate.redact import Redactor

T = TypeVar("T")
Migration = Callable[[sqlite3.Connection], None]


def from_row(cls: type[T], row: Any, **decode: Callable[[Any], Any]) -> T:
    """A dataclass from a database row: every field read by its name, through ``decode[name]``
    where the column holds an encoded value (JSON text, space-separated words)."""
    return cls(**{name: decode[name](row[name]) if name in decode else row[name] for name in _names(cls)})


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def words(text: str | None) -> list[str]:
    """A space-separated column (tags) as a list; NULL or empty is no words."""
    return text.split() if text else []


class StateError(Exception):
    """The state database cannot be used; the message says why and what to do."""


_READS = ("SELECT", "PRAGMA", "EXPLAIN")


def _redacted_params(redactor: Redactor, sql: str, params: Any) -> Any:
    """The parameters as they may be stored. Reads keep theirs: a search for a word must not turn
    into a search for a marker (full-text MATCH syntax would reject it)."""
    if not params or sql.lstrip()[:7].upper().startswith(_READS):
        return params
    if isinstance(params, dict):
        return {k: redactor.redact_text(v) if isinstance(v, str) else v for k, v in params.items()}
    return tuple(redactor.redact_text(v) if isinstance(v, str) else v for v in params)


class _RedactingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        conn = self.connection
        assert isinstance(conn, RedactingConnection)
        return super().execute(sql, _redacted_params(conn.redactor, sql, parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        conn = self.connection
        assert isinstance(conn, RedactingConnection)
        rows = [_redacted_params(conn.redactor, sql, p) for p in seq_of_parameters]
        return super().executemany(sql, rows)


class RedactingConnection(sqlite3.Connection):
    """A sqlite3 connection whose writes store only redacted text (see the module docstring).
    ``cursor()`` hands out redacting cursors, and ``execute`` goes through one, so the stdlib's
    shortcut methods and aiosqlite (which calls ``execute``/``executemany`` on this object) are covered."""

    redactor: Redactor

    def cursor(self, factory: Any = _RedactingCursor) -> Any:  # type: ignore[override]
        if not (isinstance(factory, type) and issubclass(factory, _RedactingCursor)):
            raise TypeError("state connections only hand out redacting cursors")
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)


def _factory(redactor: Redactor | None) -> type[RedactingConnection]:
    chosen = redactor if redactor is not None else Redactor()
    return type("RedactingConnection", (RedactingConnection,), {"redactor": chosen})


def _m001_grants(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE grants (
            id TEXT PRIMARY KEY,
            tool TEXT NOT NULL,            -- tool-name glob
            args_match TEXT NOT NULL,      -- JSON object: argument name -> glob
            args_digest TEXT,              -- when set, binds the grant to exactly these arguments
            created_at REAL NOT NULL,
            expires_at REAL,
            uses_left INTEGER,             -- NULL = unlimited until expiry
            revoked_at REAL,
            created_by TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        )
        """
    )


def _m002_memory(db: sqlite3.Connection) -> None:
    # Facts are never deleted: review changes ``status``; superseding links old and new rows.
    db.execute(
        """
        CREATE TABLE facts (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            predicate TEXT NOT NULL,
            object TEXT NOT NULL DEFAULT '',   -- '' for a free-text fact (an observation)
            text TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '',     -- space-separated, mirrored in fact_tags for filtering
            source TEXT,                       -- receipt:N, file:PATH, URL or case:ID
            author TEXT NOT NULL,              -- operator:NAME or agent:CLIENT/SESSION
            status TEXT NOT NULL CHECK (status IN ('proposed','accepted','rejected','superseded')),
            supersedes INTEGER REFERENCES facts(id),
            superseded_by INTEGER REFERENCES facts(id),
            reviewed_by TEXT,
            review_note TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX facts_subject ON facts(subject, predicate, status)")
    db.execute("CREATE INDEX facts_status ON facts(status, updated_at)")
    db.execute(
        "CREATE TABLE fact_tags (tag TEXT NOT NULL, fact_id INTEGER NOT NULL, PRIMARY KEY (tag, fact_id))"
    )
    db.execute(
        "CREATE VIRTUAL TABLE facts_fts USING fts5(subject, predicate, object, text, tags, "
        "content='facts', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    # External-content FTS kept in step by triggers, so plain sqlite3 edits stay searchable.
    db.execute(
        """CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
             INSERT INTO facts_fts(rowid, subject, predicate, object, text, tags)
             VALUES (new.id, new.subject, new.predicate, new.object, new.text, new.tags);
           END"""
    )
    db.execute(
        """CREATE TRIGGER facts_au AFTER UPDATE OF subject, predicate, object, text, tags ON facts BEGIN
             INSERT INTO facts_fts(facts_fts, rowid, subject, predicate, object, text, tags)
             VALUES ('delete', old.id, old.subject, old.predicate, old.object, old.text, old.tags);
             INSERT INTO facts_fts(rowid, subject, predicate, object, text, tags)
             VALUES (new.id, new.subject, new.predicate, new.object, new.text, new.tags);
           END"""
    )


def _m003_cases(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE cases (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            goal TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL CHECK (status IN ('open','blocked','done')),
            tags TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE case_notes (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            author TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE handoffs (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            kind TEXT NOT NULL CHECK (kind IN ('progress','done','blocked','failed','interrupted')),
            summary TEXT NOT NULL,
            done TEXT NOT NULL DEFAULT '[]',        -- JSON list of strings
            next_steps TEXT NOT NULL DEFAULT '[]',
            blockers TEXT NOT NULL DEFAULT '[]',
            receipts TEXT NOT NULL DEFAULT '[]',    -- JSON list of receipt seqs (interrupted handoffs)
            last_receipt_seq INTEGER,               -- receipts up to here are covered by this handoff
            status_after TEXT NOT NULL,
            author TEXT NOT NULL,
            session TEXT,
            created_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX case_notes_case ON case_notes(case_id, id)")
    db.execute("CREATE INDEX handoffs_case ON handoffs(case_id, id)")


def _m004_github_pins(db: sqlite3.Connection) -> None:
    # Repository pinning (tollhouse/tools/github/pinning.py): private repositories a session has
    # read. In the database, not in memory, so a pin survives a restart and holds for every process
    # serving the same session on this workspace.
    db.execute(
        """
        CREATE TABLE github_pins (
            session TEXT NOT NULL,
            repo TEXT NOT NULL,             -- lower-cased owner/name of a private repository read
            pinned_at REAL NOT NULL,
            PRIMARY KEY (session, repo)
        ) WITHOUT ROWID
        """
    )


# Append only. Never edit a released migration; fixture databases under tests/ pin each version.
MIGRATIONS: list[Migration] = [_m001_grants, _m002_memory, _m003_cases, _m004_github_pins]


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    for index, migration in enumerate(MIGRATIONS, start=1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version >= index:
                conn.execute("ROLLBACK")
                continue
            migration(conn)
            conn.execute(f"PRAGMA user_version = {index}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise StateError(
            f"state database is at schema version {version}, newer than this tollhouse "
            f"understands ({len(MIGRATIONS)}); upgrade tollhouse"
        )


def open_sync(path: Path, *, create: bool = True, redactor: Redactor | None = None) -> sqlite3.Connection:
    """A migrated stdlib connection (autocommit mode) for the CLI and for tests; its writes are
    redacted by ``redactor`` (default: the token-shape detectors)."""
    if not create and not path.exists():
        raise StateError(f"state database {path} does not exist; run `tollhouse init`")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, factory=_factory(redactor))
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        # WAL + NORMAL: a commit survives a crash of the process and holds the write lock briefly.
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        raise StateError(
            f"state database {path} cannot be used ({exc}); nothing was changed. If it is corrupt, "
            "move it aside and run again (memory and grants start empty)"
        ) from exc
    except OSError as exc:
        raise StateError(f"state database {path} cannot be opened: {exc}") from exc
    return conn


class StateDB:
    """Async access for the server (aiosqlite, WAL, long busy timeout)."""

    def __init__(self, path: Path, conn: aiosqlite.Connection, redactor: Redactor) -> None:
        self.path = path
        self.conn = conn
        self.redactor = redactor
        """What every write passes (inside the connection); also for checks such as a case id."""
        # One connection is shared by every task of this process: serialise write transactions on it
        # so two tasks never interleave statements inside one BEGIN ... COMMIT.
        self._write_lock = anyio.Lock()
        self.shared: Any = None
        """With a PostgreSQL store: grants, pins, memory, cases and handoffs there
        (``tollhouse.store.state_pg``), shared by every server; None keeps them in this file."""

    dialect = "sqlite"

    @property
    def store(self) -> Any:
        """Where the shared tables live: the PostgreSQL state when a store URL is set, else this
        file. Both offer ``conn`` (``execute``, usable awaited or with ``async with``), ``write()``,
        ``redactor`` and ``dialect``; the state modules read and write only through it."""
        return self.shared if self.shared is not None else self

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: takes the database write lock up front, so a
        read-modify-write cannot lose an update made by another process in between."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.conn.execute("ROLLBACK")
                raise
            with anyio.CancelScope(shield=True):
                await self.conn.execute("COMMIT")

    @classmethod
    async def open(
        cls, path: Path, *, create: bool = True, redactor: Redactor | None = None, url: str | None = None
    ) -> StateDB:
        """Open (and migrate) the state database; every write through it is redacted by ``redactor``
        (default: the token-shape detectors). The gate passes its own, which knows credential values.
        With ``url`` (a PostgreSQL store) grants and pins go there: see ``shared``."""
        redactor = redactor if redactor is not None else Redactor()
        open_sync(path, create=create).close()  # migrate once, synchronously and with locking
        try:
            conn = await aiosqlite.connect(path, timeout=30, isolation_level=None, factory=_factory(redactor))
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA busy_timeout = 30000")
            await conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"state database {path} cannot be used: {exc}") from exc
        state = cls(path, conn, redactor)
        if url is not None:
            from tollhouse.store.state_pg import SharedState

            try:
                state.shared = await SharedState.open(url, redactor)
            except BaseException:
                await conn.close()
                raise
        return state

    async def close(self) -> None:
        try:
            if self.shared is not None:
                await self.shared.close()
        finally:
            await self.conn.close()
