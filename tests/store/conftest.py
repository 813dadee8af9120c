"""Both backends for the store tests: the workspace's SQLite file and a real PostgreSQL server.

The server starts once per test session (``tests/pgserver.py``); each test that uses it gets a fresh
database, so logs never leak between tests. If PostgreSQL cannot start, those tests FAIL with the
reason: CI installs it from .ci/apt-packages.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pgserver import PostgresServer, PostgresUnavailable
from tollhouse.receipts.schema import FIELDS

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        # fsync off: these tests never crash the server's machine, and it saves seconds per test.
        server = PostgresServer.start(fsync=False)
    except PostgresUnavailable as exc:
        pytest.fail(f"the PostgreSQL store tests need a PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    if not pg_server.running():  # a test that stops the server restarts it; make sure
        pg_server.restart()
    return pg_server.url(f"t{next(_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, the URL of a fresh PostgreSQL database otherwise."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "ws" / ".tollhouse"


def stored_rows(url: str | None, state_dir: Path, log_id: str) -> list[dict[str, Any]]:
    """Every entry of the store (of this key's log on PostgreSQL), in chain order."""
    if url is None:
        conn = sqlite3.connect(state_dir / "receipts.db")
        try:
            return [
                dict(zip(FIELDS, r, strict=True)) for r in conn.execute("SELECT * FROM receipts ORDER BY seq")
            ]
        finally:
            conn.close()
    from tollhouse.store.receipts_pg import log_rows

    return log_rows(url, log_id)


def verify_store(url: str | None, state_dir: Path) -> list[Any]:
    """VerifyResults: the SQLite file's, or one per PostgreSQL log."""
    if url is None:
        from tollhouse.receipts.verify import verify_db

        return [verify_db(state_dir / "receipts.db")]
    from tollhouse.store.receipts_pg import verify_pg

    return [r.result for r in verify_pg(url)]
