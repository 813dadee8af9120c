"""In-process change listeners: the MCP server hears here that a case changed and notifies clients.

Listeners are awaited after the write committed; a failing listener is logged and never fails the
write. Changes made by another process (the CLI) are not heard here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
_listeners: list[Callable[[str], Awaitable[None]]] = []


def add_listener(fn: Callable[[str], Awaitable[None]]) -> Callable[[], None]:
    """Call ``await fn(case_id)`` after every change to a case; returns a remover."""
    _listeners.append(fn)
    return lambda: _listeners.remove(fn) if fn in _listeners else None


async def case_changed(case_id: str) -> None:
    for fn in list(_listeners):
        try:
            await fn(case_id)
        except Exception:
            log.exception("case listener failed for %s", case_id)
