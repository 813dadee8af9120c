"""Repository pinning: the toxic-flow defence.

The attack: a public issue tells the agent to read a private repository and post what it found
somewhere public. Static policy cannot see it (each call alone is allowed), so the family keeps the
private repositories that have been read; once it holds one, a write to any *other* repository is
denied, and the denial says why. Reads stay allowed; writes back to the private repository that was
read stay allowed (nothing leaves it).

Two scopes of pins, both checked on every write:
- **session pins**: per session id of the call, kept until an operator releases them;
- **workspace pins**: every private read on the workspace, whatever its session (or none), holds
  for ``github.pin_ttl_s`` seconds after the read. ``tollhouse call`` without ``--session`` (what
  every generated skill runs) has no session, and a model can pass any fresh ``--session``: neither
  resets a workspace pin. ``pin_ttl_s = 0`` turns workspace pins off.

Where pins live: with a state database, in the ``github_pins`` table of ``.tollhouse/state.db``
(workspace pins under the session ``''``, which no call's session pins are read from). A pin
therefore survives a restart and holds for every process on the workspace (``tollhouse call`` runs
one process per call). Pins are also kept in memory, so a check never depends on the database
alone; calls without a session share one in-memory session bucket per process.

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


WORKSPACE = ""
"""The ``session`` under which workspace pins are stored."""


def denial(repo: str, session_pins: list[str], workspace_pins: list[str], ttl_s: float) -> PolicyDenied:
    parts = []
    if session_pins:
        parts.append(f"this session read private repository {', '.join(session_pins)}")
    if workspace_pins:
        parts.append(
            f"a call on this workspace read private repository {', '.join(workspace_pins)} "
            f"in the last {ttl_s:g} s (github.pin_ttl_s; a new session does not reset it)"
        )
    return PolicyDenied(
        RULE,
        f"repository pinning: {'; '.join(parts)}; writes to {repo} are denied so that private "
        "content cannot flow to another repository. An operator can release pins (see "
        "docs/tools/github.md), or set github.pin_after_private_read = false in tollhouse.toml "
        "if they accept that risk",
    )


class PinStore:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, SessionRepos] = OrderedDict()
        self._max = max_sessions
        self._workspace: dict[tuple[str, str], float] = {}
        """(workspace, private repository) -> time of its last read: workspace pins in this process
        (one process may serve several workspaces)."""
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

    async def note_read(
        self, key: str | None, repo: str, private: bool, state: Any = None, workspace: str = ""
    ) -> None:
        """Record a read; for a private repository the pins are committed before this returns."""
        target = repo.lower()
        now = time.time()
        with self._lock:
            repos = self._session(key or "")
            repos.visibility[target] = private
            if private:
                repos.private_read.add(target)
                self._workspace[(workspace, target)] = now
        if private and state is not None:
            rows = [(WORKSPACE, target, now)] + ([(key, target, now)] if key else [])
            async with state.write() as db:
                # A workspace pin's time is its last read: the expiry counts from there.
                await db.executemany(
                    "INSERT INTO github_pins (session, repo, pinned_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (session, repo) DO UPDATE SET pinned_at = excluded.pinned_at",
                    rows,
                )

    async def check_write(
        self, key: str | None, repo: str, state: Any = None, ttl_s: float = 0, workspace: str = ""
    ) -> None:
        """Deny (PolicyDenied) a write to ``repo`` while a pin on another repository holds."""
        target = repo.lower()
        since = time.time() - ttl_s
        with self._lock:
            session = set(self._session(key or "").private_read)
            held = self._workspace.items() if ttl_s > 0 else ()
            pinned = {r for (w, r), t in held if w == workspace and t >= since}
        if state is not None:
            if key:
                cursor = await state.conn.execute("SELECT repo FROM github_pins WHERE session = ?", (key,))
                session.update(row[0] for row in await cursor.fetchall())
            if ttl_s > 0:
                cursor = await state.conn.execute(
                    "SELECT repo FROM github_pins WHERE session = ? AND pinned_at >= ?", (WORKSPACE, since)
                )
                pinned.update(row[0] for row in await cursor.fetchall())
        session.discard(target)
        pinned.discard(target)
        pinned -= session
        if session or pinned:
            raise denial(repo, sorted(session), sorted(pinned), ttl_s)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._workspace.clear()


PINS = PinStore()
