import sqlite3
from pathlib import Path

import pytest

from tollhouse.state import db as statedb


def test_migrates_once_and_records_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = statedb.open_sync(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(statedb.MIGRATIONS)
    conn.close()
    # A second open is a no-op, not a second migration.
    conn = statedb.open_sync(path)
    assert conn.execute("SELECT count(*) FROM grants").fetchone()[0] == 0
    conn.close()


def test_corrupt_database_is_a_clear_error_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    garbage = b"this is not sqlite" * 100
    path.write_bytes(garbage)
    with pytest.raises(statedb.StateError, match="nothing was changed"):
        statedb.open_sync(path)
    assert path.read_bytes() == garbage


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(statedb.MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(statedb.StateError, match="upgrade tollhouse"):
        statedb.open_sync(path)


def test_missing_without_create(tmp_path: Path) -> None:
    with pytest.raises(statedb.StateError, match="tollhouse init"):
        statedb.open_sync(tmp_path / "nope.db", create=False)
