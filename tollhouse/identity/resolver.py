"""The credential resolver the gate hangs on ``services.credentials``.

Secrets are read just in time (the first tool call that needs one), kept for a short TTL so that a
burst of calls does not run ``gh auth token`` each time, and handed to the redactor the moment they
are read, so that no receipt, error or result can carry them afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio

from tollhouse.identity.profiles import Profile, ProfileError, parse_profiles
from tollhouse.identity.sources import CredentialError, read_env, read_file, run_command


class SecretSink(Protocol):
    def add_secret(self, value: str) -> None: ...


@dataclass
class _Cached:
    value: str
    expires: float


class CredentialResolver:
    def __init__(self, profiles: dict[str, Profile], redactor: SecretSink | None = None) -> None:
        self.profiles = profiles
        self._redactor = redactor
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def profile(self, profile_id: str) -> Profile:
        profile = self.profiles.get(profile_id)
        if profile is None:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise CredentialError(
                f"no credential profile {profile_id!r} is configured (known: {known}); add "
                f'[credentials."{profile_id}"] source = "env:NAME" to tollhouse.toml'
            )
        return profile

    async def resolve(self, profile_id: str) -> str:
        profile = self.profile(profile_id)
        cached = self._cache.get(profile_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached.value
        # One reader per profile: ten concurrent calls run `gh auth token` once, not ten times.
        lock = self._locks.setdefault(profile_id, anyio.Lock())
        async with lock:
            cached = self._cache.get(profile_id)
            if cached is not None and cached.expires > time.monotonic():
                return cached.value
            value = await self._read(profile)
            if self._redactor is not None:
                self._redactor.add_secret(value)
            if profile.ttl_s > 0:
                self._cache[profile_id] = _Cached(value, time.monotonic() + profile.ttl_s)
            return value

    def invalidate(self, profile_id: str) -> None:
        """Forget a cached value (after the service rejected it), so a rotated secret is read anew."""
        self._cache.pop(profile_id, None)

    def is_cached(self, profile_id: str) -> bool:
        cached = self._cache.get(profile_id)
        return cached is not None and cached.expires > time.monotonic()

    async def _read(self, profile: Profile) -> str:
        if profile.kind == "env":
            return read_env(profile)
        if profile.kind == "file":
            return await anyio.to_thread.run_sync(read_file, profile)
        return await run_command(profile)


def build_resolver(config: Any, redactor: SecretSink | None) -> CredentialResolver:
    """The resolver for a loaded Config. Raises ConfigError for a bad ``[credentials]`` table."""
    from tollhouse.config import ConfigError

    base = Path(getattr(config, "root", None) or Path.cwd())
    try:
        profiles = parse_profiles(config.section("credentials"), base)
    except ProfileError as exc:
        path = getattr(config, "path", None)
        raise ConfigError(str(exc), file=path, line=config.line_of("credentials") if path else None) from None
    return CredentialResolver(profiles, redactor)
