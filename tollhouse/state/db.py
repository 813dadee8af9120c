"""``.tollhouse/state.db``: grants, memory, cases and handoffs, with forward-only migrations.

Schema changes are an ordered list of small migration functions (the simonw/llm way). The version
lives in ``PRAGMA user_version``; each migration runs in its own ``BEGIN IMMEDIATE`` transaction and
re-reads the version inside it, so several server processes starting together migrate exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import aiosqlite

Migration = Callable[[sqlite3.Connection], None]


class StateError(Exception):
    """The state database cannot be used; the message says why and what to do."""


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


# Append only. Never edit a released migration; fixture databases under tests/ pin each version.
MIGRATIONS: list[Migration] = [_m001_grants]


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


def open_sync(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """A migrated stdlib connection (autocommit mode) for the CLI and for tests."""
    if not create and not path.exists():
        raise StateError(f"state database {path} does not exist; run `tollhouse init`")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
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

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self.conn = conn

    @classmethod
    async def open(cls, path: Path, *, create: bool = True) -> StateDB:
        open_sync(path, create=create).close()  # migrate once, synchronously and with locking
        try:
            conn = await aiosqlite.connect(path, timeout=30, isolation_level=None)
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA busy_timeout = 30000")
        except sqlite3.DatabaseError as exc:
            raise StateError(f"state database {path} cannot be used: {exc}") from exc
        return cls(path, conn)

    async def close(self) -> None:
        await self.conn.close()
