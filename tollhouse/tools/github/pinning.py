"""Repository pinning: the toxic-flow defence.

The attack: a public issue tells the agent to read a private repository and post what it found
somewhere public. Static policy cannot see it (each call alone is allowed), so the family keeps, per
session, the private repositories the session has read; once it holds one, a write to any *other*
repository is denied, and the denial says why. Reads stay allowed; writes back to the private
repository that was read stay allowed (nothing leaves it).

Where pins live: for a call with a session id and a gate with a state database, in the
``github_pins`` table of ``.tollhouse/state.db``. A pin therefore survives a restart (a host that
keeps the conversation, and the private text in it, across a server restart keeps its pin), and
holds for every process serving that session on the workspace (``tollhouse call --session s`` runs
one process per call). Calls without a session share one in-memory bucket per process. Pins are
also kept in memory, so a check never depends on the database alone.

Ordering: a read records its pin (committed) before it returns, so the model never holds private
text whose pin is not yet durable; a write checks before its request. A read and a write running at
the same time cannot leak through each other: the write's text was fixed before the read returned.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from tollhouse.tools.base import PolicyDenied

MAX_SESSIONS = 10_000
RULE = "github.pinning"


@dataclass
class SessionRepos:
    private_read: set[str] = field(default_factory=set)
    """Lower-cased ``owner/name`` of private repositories this session has read."""
    visibility: dict[str, bool] = field(default_factory=dict)
    """``owner/name`` -> private?, as GitHub reported it (saves a lookup per read)."""


def denial(repo: str, others: list[str]) -> PolicyDenied:
    return PolicyDenied(
        RULE,
        f"repository pinning: this session read private repository {', '.join(others)}; writes to "
        f"{repo} are denied so that private content cannot flow to another repository. Start a new "
        "session for this write, or set github.pin_after_private_read = false in tollhouse.toml "
        "if you accept that risk",
    )


class PinStore:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, SessionRepos] = OrderedDict()
        self._max = max_sessions
        # Faces may run gates in several threads: every read and change of a session's sets holds
        # this lock, so a check never iterates a set that a concurrent read is growing.
        self._lock = threading.Lock()

    def _session(self, key: str) -> SessionRepos:
        state = self._sessions.get(key)
        if state is None:
            state = self._sessions[key] = SessionRepos()
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(key)
        return state

    def visibility(self, key: str | None, repo: str) -> bool | None:
        with self._lock:
            return self._session(key or "").visibility.get(repo.lower())

    async def note_read(self, key: str | None, repo: str, private: bool, state: Any = None) -> None:
        """Record a read; for a private repository the pin is committed before this returns."""
        target = repo.lower()
        with self._lock:
            repos = self._session(key or "")
            repos.visibility[target] = private
            if private:
                repos.private_read.add(target)
        if private and key and state is not None:
            async with state.write() as db:
                await db.execute(
                    "INSERT OR IGNORE INTO github_pins (session, repo, pinned_at) VALUES (?, ?, ?)",
                    (key, target, time.time()),
                )

    async def check_write(self, key: str | None, repo: str, state: Any = None) -> None:
        target = repo.lower()
        with self._lock:
            others = set(self._session(key or "").private_read)
        if key and state is not None:
            cursor = await state.conn.execute("SELECT repo FROM github_pins WHERE session = ?", (key,))
            others.update(row[0] for row in await cursor.fetchall())
        others.discard(target)
        if others:
            raise denial(repo, sorted(others))

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


PINS = PinStore()
