"""The event store behind `GET` + `Last-Event-ID` (Streamable HTTP resumability, handshake era).

Without one the SDK answers a resuming `GET` with 500. With one, every server-sent event of a session
(a response, a progress notification, an approval request, the priming event a 2025-11-25 client
keeps as its cursor) is stored before it is sent, so a client whose stream broke asks again with the
last id it saw and gets what it missed, then the live tail.

Two rules keep one session's events from reaching another:

* the SDK's store interface knows no session, so each session's transport gets its own view of the
  store (``SessionEvents``), and a replay looks only among that session's events; an id from another
  session finds nothing (an empty stream, never someone else's results);
* event ids are 128 random bits, so an id is only known to the client that received it.

``sqlite`` (the default) keeps events in ``<state>/http-events.db`` (WAL), so replicas on one
workspace share them; ``memory`` keeps them in the process. Events older than ``EVENT_TTL_S`` (the
SDK's session idle timeout) are dropped. Handshake-era sessions themselves live in one process, so a
resuming `GET` must reach the replica that holds the session (sticky sessions); 2026-07-28 requests
have no sessions and need none of this.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from mcp.server.streamable_http import EventMessage, EventStore
from mcp_types import jsonrpc_message_adapter

EVENT_TTL_S = 1800.0
PRUNE_EVERY = 500
MAX_REPLAY = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS http_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    session TEXT NOT NULL,
    stream TEXT NOT NULL,
    message TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS http_events_stream ON http_events (session, stream, seq);
CREATE INDEX IF NOT EXISTS http_events_created ON http_events (created);
"""


class EventLog:
    """Storage shared by every session: SQLite file, or memory (``path=None``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        target = str(path) if path is not None else ":memory:"
        # One connection used from the event loop only; the lock covers a test's threads.
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        if path is not None:
            path.chmod(0o600)
            self._db.execute("PRAGMA journal_mode=WAL")
            # Events are a reconnect convenience, not a record (receipts are): no fsync per event.
            self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._stored = 0

    def store(self, session: str, stream: str, message: Any) -> str:
        event_id = secrets.token_hex(16)
        text = None if message is None else message.model_dump_json(by_alias=True, exclude_unset=True)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO http_events (event_id, session, stream, message, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (event_id, session, str(stream), text, now),
            )
            self._stored += 1
            if self._stored % PRUNE_EVERY == 0:
                self._db.execute("DELETE FROM http_events WHERE created < ?", (now - EVENT_TTL_S,))
        return event_id

    def after(self, session: str, event_id: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The stream of ``event_id`` (if it is this session's) and its later events (id, message)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, stream FROM http_events WHERE event_id = ? AND session = ?", (event_id, session)
            ).fetchone()
            if row is None:
                return None
            seq, stream = row
            rows = self._db.execute(
                "SELECT event_id, message FROM http_events WHERE session = ? AND stream = ? AND seq > ? "
                "AND message IS NOT NULL ORDER BY seq LIMIT ?",
                (session, stream, seq, MAX_REPLAY),
            ).fetchall()
        return stream, rows

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SessionEvents(EventStore):
    """One handshake session's view of the log (what the SDK's transport is given)."""

    def __init__(self, log: EventLog, session: str) -> None:
        self.log = log
        self.session = session

    async def store_event(self, stream_id: str, message: Any) -> str:
        return self.log.store(self.session, stream_id, message)

    async def replay_events_after(self, last_event_id: str, send_callback: Any) -> str | None:
        found = self.log.after(self.session, last_event_id)
        if found is None:
            return None
        stream, rows = found
        for event_id, text in rows:
            await send_callback(EventMessage(jsonrpc_message_adapter.validate_json(text), event_id))
        return stream


def open_log(kind: str, state_dir: Path) -> EventLog | None:
    if kind == "off":
        return None
    if kind == "memory":
        return EventLog(None)
    path = state_dir / "http-events.db"
    path.touch(mode=0o600, exist_ok=True)
    return EventLog(path)


def install(session_manager: Any, log: EventLog | None) -> None:
    """Give every new handshake session's transport its own view of ``log``.

    The SDK hands its one ``event_store`` to every session's transport; wrapping its admission step
    replaces that with a per-session view (checked by a test: a cross-session id replays nothing)."""
    if log is None:
        return
    session_manager.event_store = SessionEvents(log, "-")  # turns the SDK's resumability paths on
    admit = session_manager._admit_session

    def admit_with_events(requestor: Any) -> Any:
        transport = admit(requestor)
        if transport is not None:
            transport._event_store = SessionEvents(log, str(transport.mcp_session_id))
        return transport

    session_manager._admit_session = admit_with_events
