"""Where the receipt views read: one interface for `receipts tail/show/report`, case files and proofs.

``receipt_source(config, log_id)`` names the workspace's SQLite file, or one log of the PostgreSQL
store the config names (``[store] url`` / ``TOLLHOUSE_STORE_URL``): by default the log of this
workspace's signing key, the one this server writes. ``source.connect()`` gives a read-only
connection with ``execute(sql, params)`` taking SQLite's ``?`` placeholders on both backends, so the
views' queries (``cli/receipts_calls.py``, ``receipts/read.py``, ``state/receipts_view.py``) are
written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tollhouse.receipts.errors import ReceiptStoreError

if TYPE_CHECKING:
    from tollhouse.config import Config


class LogMissing(ReceiptStoreError):
    """The store has no log by that id (yet: a server creates its log when it first opens)."""


@dataclass(frozen=True)
class ReceiptSource:
    path: Path
    """The workspace's receipts.db (always set: SQLite's file, or where it would be)."""
    url: str | None = None
    log_id: str | None = None

    def __str__(self) -> str:
        if self.url is None:
            return str(self.path)
        from tollhouse.store.pg import redacted_url

        return f"{redacted_url(self.url)} (log {self.log_id})"

    def exists(self) -> bool:
        """Whether there is anything to read: the file, or the log registered in the store."""
        if self.url is None:
            return self.path.exists()
        from tollhouse.store.pg import connect, list_logs

        conn = connect(self.url)
        try:
            return any(log[0] == self.log_id for log in list_logs(conn))
        finally:
            conn.close()

    def connect(self) -> Any:
        """A read-only connection (``execute`` with ``?`` placeholders); ReceiptStoreError when absent."""
        if self.url is None:
            from tollhouse.receipts.read import connect_readonly

            return connect_readonly(self.path)
        return PgReader(self.url, str(self.log_id))


class PgReader:
    """One log of the PostgreSQL store, read-only, with SQLite's placeholders."""

    def __init__(self, url: str, log_id: str) -> None:
        from tollhouse.store.pg import connect, list_logs, redacted_url

        self._conn = connect(url)
        try:
            found = [log for log in list_logs(self._conn) if log[0] == log_id]
            if not found:
                raise LogMissing(
                    f"no log {log_id} in {redacted_url(url)}; `tollhouse store status` lists the logs"
                )
            self.public_key: bytes = found[0][2]
            self._conn.execute("SET default_transaction_read_only = on")
            # The schema name comes from the store's own registry (pg.schema_for), never from input.
            self._conn.execute(f"SET search_path TO {found[0][1]}, public")
        except BaseException:
            self._conn.close()
            raise

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql.strip().upper() == "BEGIN":  # a proof reads one snapshot, as SQLite's BEGIN does
            return self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        return self._conn.execute(sql.replace("?", "%s"), tuple(params) or None)

    def close(self) -> None:
        self._conn.close()


def receipt_source(config: Config, log_id: str | None = None) -> ReceiptSource:
    """What the receipt views read for this config: its PostgreSQL store (the log ``log_id``, by
    default this workspace's signing key's) or the workspace's SQLite file. ``log_id`` without a
    PostgreSQL store is a ReceiptStoreError: a workspace's SQLite file holds one log."""
    from tollhouse.store import store_url

    path = Path(config.state_dir) / "receipts.db"
    try:
        url = store_url(config)
    except ValueError as exc:
        raise ReceiptStoreError(str(exc)) from exc
    if url is None:
        if log_id is not None:
            raise ReceiptStoreError(
                "--log names a log of a PostgreSQL store; this workspace keeps its receipts in SQLite "
                f"({path}) — set [store] url or TOLLHOUSE_STORE_URL"
            )
        return ReceiptSource(path)
    if log_id is not None:  # named by a person: a typo is an error, not "no receipts yet"
        source = ReceiptSource(path, url, log_id)
        source.connect().close()
        return source
    if log_id is None:
        from tollhouse.receipts.signing import load_or_create_signer

        try:
            log_id = load_or_create_signer(Path(config.state_dir), create=False).key_id
        except ReceiptStoreError as exc:
            raise ReceiptStoreError(
                f"{exc}; without this workspace's signing key name a log with --log "
                "(`tollhouse store status` lists them)"
            ) from exc
    return ReceiptSource(path, url, log_id)
