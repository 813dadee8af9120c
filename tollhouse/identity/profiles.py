"""Credential profiles: typed ids (``github:default``) and where each one's secret comes from.

A profile names a *source*, never a value: ``env:NAME``, ``file:PATH`` or ``command:ARGV...``. The
config may therefore be committed; the secret is read only when a tool needs it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PROFILE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.-]{1,64}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROFILE_KEYS = {"source", "ttl_s", "timeout_s", "description"}

DEFAULT_TTL_S = 300.0
DEFAULT_COMMAND_TIMEOUT_S = 10.0

# Used when the config does not define them, so that `export GITHUB_TOKEN=...` is all a user needs.
BUILTIN_PROFILES: dict[str, str] = {"github:default": "env:GITHUB_TOKEN"}

SourceKind = Literal["env", "file", "command"]


class ProfileError(ValueError):
    """A profile definition that cannot be used. The message never quotes a source's value part
    when the source is malformed: a user who pasted a token into ``source`` must not see it echoed."""


@dataclass(frozen=True)
class Profile:
    id: str
    kind: SourceKind
    env: str | None = None
    path: Path | None = None
    argv: tuple[str, ...] = ()
    ttl_s: float = DEFAULT_TTL_S
    timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S
    description: str = ""
    builtin: bool = False

    @property
    def provider(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def source(self) -> str:
        """The source as written (safe to show: it names where the secret lives, not the secret)."""
        if self.kind == "env":
            return f"env:{self.env}"
        if self.kind == "file":
            return f"file:{self.path}"
        return "command:" + shlex.join(self.argv)


def parse_source(profile_id: str, source: Any, base: Path) -> tuple[SourceKind, dict[str, Any]]:
    if not isinstance(source, str) or ":" not in source:
        raise ProfileError(
            f"credentials.{profile_id}.source must start with env:, file: or command: (a profile names "
            "where the secret lives; never put the secret itself in tollhouse.toml)"
        )
    kind, _, rest = source.partition(":")
    rest = rest.strip()
    if kind == "env":
        if not ENV_NAME_RE.match(rest):
            raise ProfileError(
                f"credentials.{profile_id}.source: env: needs a variable name like GITHUB_TOKEN"
            )
        return "env", {"env": rest}
    if kind == "file":
        if not rest:
            raise ProfileError(f"credentials.{profile_id}.source: file: needs a path")
        path = Path(rest).expanduser()
        return "file", {"path": path if path.is_absolute() else base / path}
    if kind == "command":
        try:
            argv = tuple(shlex.split(rest))
        except ValueError as exc:
            raise ProfileError(f"credentials.{profile_id}.source: command is not valid: {exc}") from None
        if not argv:
            raise ProfileError(
                f"credentials.{profile_id}.source: command: needs a program, e.g. gh auth token"
            )
        return "command", {"argv": argv}
    raise ProfileError(
        f"credentials.{profile_id}.source must start with env:, file: or command: "
        "(never put the secret itself in tollhouse.toml)"
    )


def _number(profile_id: str, table: dict[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ProfileError(f"credentials.{profile_id}.{key} must be a number >= 0")
    return float(value)


def parse_profiles(section: dict[str, Any], base: Path) -> dict[str, Profile]:
    """Profiles from the ``[credentials]`` table, plus the built-in ones it does not redefine."""
    if not isinstance(section, dict):
        raise ProfileError("[credentials] must be a table of profiles")
    profiles: dict[str, Profile] = {}
    for profile_id, table in section.items():
        if not PROFILE_RE.match(profile_id):
            raise ProfileError(
                f"credential profile id {profile_id!r} must look like provider:name (e.g. github:default)"
            )
        if not isinstance(table, dict):
            raise ProfileError(f'[credentials."{profile_id}"] must be a table with a source key')
        unknown = sorted(set(table) - PROFILE_KEYS)
        if unknown:
            raise ProfileError(
                f"unknown key credentials.{profile_id}.{unknown[0]}; known: {', '.join(sorted(PROFILE_KEYS))}"
            )
        if "source" not in table:
            raise ProfileError(
                f'[credentials."{profile_id}"] needs source = "env:NAME" | "file:PATH" | "command:..."'
            )
        kind, fields = parse_source(profile_id, table["source"], base)
        profiles[profile_id] = Profile(
            id=profile_id,
            kind=kind,
            ttl_s=_number(profile_id, table, "ttl_s", DEFAULT_TTL_S),
            timeout_s=_number(profile_id, table, "timeout_s", DEFAULT_COMMAND_TIMEOUT_S),
            description=str(table.get("description", "")),
            **fields,
        )
    for profile_id, source in BUILTIN_PROFILES.items():
        if profile_id not in profiles:
            kind, fields = parse_source(profile_id, source, base)
            profiles[profile_id] = Profile(id=profile_id, kind=kind, builtin=True, **fields)
    return profiles
