"""Repository pinning: the toxic-flow defence.

The attack: a public issue tells the agent to read a private repository and post what it found
somewhere public. Static policy cannot see it (each call alone is allowed), so the family keeps, per
session, the private repositories the session has read; once it holds one, a write to any *other*
repository is denied, and the denial says why. Reads stay allowed; writes back to the private
repository that was read stay allowed (nothing leaves it).

State is in memory, keyed by ``Call.session`` (one process-wide bucket for calls without a session),
bounded to the most recent ``MAX_SESSIONS`` sessions. A restart forgets it; so does a new session.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from tollhouse.tools.base import PolicyDenied

MAX_SESSIONS = 10_000
RULE = "github.pinning"


@dataclass
class SessionRepos:
    private_read: set[str] = field(default_factory=set)
    """Lower-cased ``owner/name`` of private repositories this session has read."""
    visibility: dict[str, bool] = field(default_factory=dict)
    """``owner/name`` -> private?, as GitHub reported it (saves a lookup per read)."""


class PinStore:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, SessionRepos] = OrderedDict()
        self._max = max_sessions
        self._lock = threading.Lock()  # faces may run gates in several threads

    def session(self, key: str | None) -> SessionRepos:
        key = key or ""
        with self._lock:
            state = self._sessions.get(key)
            if state is None:
                state = self._sessions[key] = SessionRepos()
                while len(self._sessions) > self._max:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(key)
            return state

    def note_read(self, key: str | None, repo: str, private: bool) -> None:
        state = self.session(key)
        state.visibility[repo.lower()] = private
        if private:
            state.private_read.add(repo.lower())

    def check_write(self, key: str | None, repo: str) -> None:
        target = repo.lower()
        others = sorted(self.session(key).private_read - {target})
        if others:
            read = ", ".join(others)
            raise PolicyDenied(
                RULE,
                f"repository pinning: this session read private repository {read}; writes to {repo} "
                "are denied so that private content cannot flow to another repository. Start a new "
                "session for this write, or set github.pin_after_private_read = false in tollhouse.toml "
                "if you accept that risk",
            )

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


PINS = PinStore()
