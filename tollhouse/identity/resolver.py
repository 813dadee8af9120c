"""The credential resolver the gate hangs on ``services.credentials``.

Secrets are read just in time (the first tool call that needs one), kept for a short TTL so that a
burst of calls does not run ``gh auth token`` each time, and handed to the redactor the moment they
are read, so that no receipt, error or result can carry them afterwards.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio

from tollhouse.identity.profiles import Profile, ProfileError, parse_profiles
from tollhouse.identity.sources import MAX_SECRET_BYTES, CredentialError, read_env, read_file, run_command


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

    def register_known(self) -> int:
        """Hand every env: and file: profile's value to the redactor now, before any tool runs: a
        command could otherwise print a token (``cat /proc/PPID/environ``) that no call has resolved
        yet. command: profiles (``gh auth token``) are not run here: a vendor CLI can be slow, prompt,
        or refresh a login, so its value becomes known when a call first resolves it. Returns how
        many values were registered; a profile that cannot be read now is skipped (it has no value
        to hide, and a call that needs it reports why)."""
        if self._redactor is None:
            return 0
        count = 0
        for profile in self.profiles.values():
            if profile.kind == "env" and profile.env is not None:
                value = os.environ.get(profile.env, "")
            elif profile.kind == "file" and profile.path is not None:
                value = _peek(profile.path)  # even a file a call would refuse (loose mode) holds a secret
            else:
                continue
            lines = [line.strip() for line in value.splitlines() if line.strip()]
            for part in {value.strip(), *lines} - {""}:
                self._redactor.add_secret(part)
            count += bool(lines)
        return count

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


def _peek(path: Path) -> str:
    """A credential file's text for the redactor: regular files of token size only, never blocking
    (a FIFO), and no error: a file that cannot be read has nothing to hide yet."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SECRET_BYTES:
            return ""
        return os.read(fd, MAX_SECRET_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


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
