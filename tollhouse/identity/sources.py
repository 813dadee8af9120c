"""Reading one secret from its source. Every error says where to look and never contains the value."""

from __future__ import annotations

import os
import stat
import subprocess

import anyio

from tollhouse.identity.profiles import Profile
from tollhouse.tools.base import ToolError

MAX_SECRET_BYTES = 64 * 1024


class CredentialError(ToolError):
    """A credential that could not be read. A ToolError, so a tool's model sees what to fix."""


def _clean(profile: Profile, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise CredentialError(f"credential profile {profile.id}: {profile.source} gave an empty value")
    if "\n" in value or "\x00" in value:
        # A multi-line value is almost always the wrong file or command output, not a token.
        raise CredentialError(
            f"credential profile {profile.id}: {profile.source} gave more than one line; "
            "it must hold only the token"
        )
    return value


def read_env(profile: Profile) -> str:
    assert profile.env is not None
    raw = os.environ.get(profile.env)
    if raw is None:
        raise CredentialError(
            f"credential profile {profile.id}: environment variable {profile.env} is not set; "
            f'export it, or point the profile elsewhere in [credentials."{profile.id}"] of tollhouse.toml'
        )
    return _clean(profile, raw)


def read_file(profile: Profile) -> str:
    """Open first, then check what was opened (fstat): a path swapped after a check cannot slip by."""
    assert profile.path is not None
    path = profile.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CredentialError(f"credential profile {profile.id}: file {path} does not exist") from None
    except OSError as exc:
        raise CredentialError(
            f"credential profile {profile.id}: cannot open {path}: {exc.strerror}"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CredentialError(f"credential profile {profile.id}: {path} is not a regular file")
        if st.st_mode & 0o077:
            raise CredentialError(
                f"credential profile {profile.id}: {path} is readable or writable by other users "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}` and try again"
            )
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise CredentialError(
                f"credential profile {profile.id}: {path} is owned by another user (uid {st.st_uid}); "
                "a secret file must belong to the user running tollhouse"
            )
        if st.st_size > MAX_SECRET_BYTES:
            raise CredentialError(f"credential profile {profile.id}: {path} is too large to be a token")
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"credential profile {profile.id}: {path} is not UTF-8 text") from None
    return _clean(profile, text)


async def run_command(profile: Profile) -> str:
    """Run the vendor CLI without a shell, with a timeout; its stdout is the secret."""
    name = profile.argv[0]
    try:
        with anyio.fail_after(profile.timeout_s):
            done = await anyio.run_process(
                list(profile.argv), check=False, stdin=subprocess.DEVNULL, start_new_session=True
            )
    except TimeoutError:
        raise CredentialError(
            f"credential profile {profile.id}: `{name}` did not finish within {profile.timeout_s:g} s "
            f"(raise credentials.{profile.id}.timeout_s if it needs longer)"
        ) from None
    except FileNotFoundError:
        raise CredentialError(
            f"credential profile {profile.id}: program {name!r} was not found on PATH; install it or "
            "change the profile's source"
        ) from None
    except OSError as exc:
        raise CredentialError(
            f"credential profile {profile.id}: cannot run {name!r}: {exc.strerror}"
        ) from None
    if done.returncode != 0:
        # stderr of a failing command explains why (e.g. "not logged in"); a failing command has no
        # secret to leak, but cap it anyway.
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        hint = f": {why[0][:200]}" if why else ""
        raise CredentialError(
            f"credential profile {profile.id}: `{profile.source.removeprefix('command:')}` exited with "
            f"status {done.returncode}{hint}"
        )
    if len(done.stdout) > MAX_SECRET_BYTES:
        raise CredentialError(f"credential profile {profile.id}: `{name}` printed too much to be a token")
    try:
        text = done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"credential profile {profile.id}: `{name}` printed non-UTF-8 output") from None
    return _clean(profile, text)
