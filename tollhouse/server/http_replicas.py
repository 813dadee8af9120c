"""What several `serve --http` replicas on one workspace share so an approval can move between them.

A 2026-07-28 approval is two requests: the first returns ``input_required`` with a sealed
``requestState``, the second carries the person's answer and that state back. Behind a load
balancer the second may reach another replica, which must (a) unseal the state, so every replica
uses the configured key ring (``[http] sealing_key_file`` / ``$TOLLHOUSE_SEALING_KEY``), and (b)
know whether the state's nonce was already spent, or one approval would run its call once per
replica. So with a configured key the spent nonces live in the workspace state
(``<state>/http-approvals.db``): spending is one ``INSERT`` that only the first process wins.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = "CREATE TABLE IF NOT EXISTS spent (nonce TEXT PRIMARY KEY, expires REAL NOT NULL)"


class SharedSpentApprovals:
    """``SpentApprovals`` with the same ``spend`` contract, kept in SQLite for every process."""

    def __init__(self, path: Path) -> None:
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def spend(self, nonce: str, expires_at: float) -> bool:
        """True the first time ``nonce`` is spent by any process on this store; False ever after.

        Fails closed: a store that cannot be written counts as spent (the call is refused, never
        run twice)."""
        now = time.time()
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO spent (nonce, expires) VALUES (?, ?)",
                    (nonce, max(expires_at, now)),
                )
                first = cur.rowcount == 1
                if first and hash(nonce) % 64 == 0:
                    self._db.execute("DELETE FROM spent WHERE expires < ?", (now - 60,))
                return first
        except sqlite3.Error:
            return False

    def close(self) -> None:
        with self._lock:
            self._db.close()
