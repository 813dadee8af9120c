"""Who is calling: the operator a receipt names and a policy rule's ``principals`` match.

One shape for every source: an OAuth access token over HTTP, a static HTTP token, the subject of
``tollhouse login`` on the command line and over stdio, or the local user. Policy sees the name and
each group as ``group:<name>``; receipts carry the name as the operator and the groups beside it.
"""

from __future__ import annotations

import contextvars
import getpass
import socket
from dataclasses import dataclass

GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class Principal:
    name: str
    """The operator: a token's ``sub`` (or the configured claim, e.g. ``email``), a static token's
    configured principal, ``local:user@host``."""
    groups: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    read_only: bool = False
    """The token's scopes grant read-only tools only (``tollhouse:read`` without ``tollhouse:call``)."""
    source: str = "local"
    """``oauth``, ``token`` (a static HTTP token), ``login`` (``tollhouse login``) or ``local``."""

    def policy_names(self) -> frozenset[str]:
        """What a rule's ``principals`` list is matched against."""
        return principal_names(self.name, self.groups)


def principal_names(name: str | None, groups: tuple[str, ...] | list[str] = ()) -> frozenset[str]:
    names = {GROUP_PREFIX + g for g in groups}
    if name:
        names.add(name)
    return frozenset(names)


def local_operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"local:{user}@{socket.gethostname()}"


current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "tollhouse_principal", default=None
)
"""The principal of the HTTP request being served (set by the OAuth guard), else None."""


def clean_groups(value: object) -> tuple[str, ...]:
    """A groups claim as a tuple of names: a list of strings, or one space-separated string.

    Anything else (numbers, objects, empty names) is dropped rather than guessed at: a group a rule
    could match must be a name the identity provider really sent."""
    items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(dict.fromkeys(g for g in items if isinstance(g, str) and usable_name(g)))


def usable_name(text: str) -> bool:
    """A name policy and receipts can hold as given: 1-256 printable characters, valid UTF-8."""
    if not 0 < len(text) <= 256 or not text.isprintable():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return False
    return True
