"""Credential profiles and the resolver: sources, permission checks, caching, redactor registration."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from tests.github.conftest import CANARY, StandInRedactor
from tollhouse.config import ConfigError, parse_config
from tollhouse.identity import CredentialError, CredentialResolver, build_resolver, parse_profiles


def resolver_for(tmp_path: Path, body: str, redactor: StandInRedactor | None = None) -> CredentialResolver:
    return build_resolver(parse_config(body, None, root=tmp_path), redactor or StandInRedactor())


def test_builtin_github_default_reads_github_token(tmp_path: Path) -> None:
    profiles = parse_profiles({}, tmp_path)
    assert profiles["github:default"].source == "env:GITHUB_TOKEN"
    assert profiles["github:default"].builtin


@pytest.mark.anyio
async def test_env_source_resolves_and_registers_with_redactor(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MY_TOKEN", CANARY + "\n")
    red = StandInRedactor()
    res = resolver_for(tmp_path, '[credentials."github:work"]\nsource = "env:MY_TOKEN"\n', red)
    assert await res.resolve("github:work") == CANARY
    assert red.secrets == [CANARY]


@pytest.mark.anyio
async def test_missing_env_var_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    res = resolver_for(tmp_path, '[credentials."github:x"]\nsource = "env:NOPE_TOKEN"\n')
    with pytest.raises(CredentialError, match=r"environment variable NOPE_TOKEN is not set; export it"):
        await res.resolve("github:x")


@pytest.mark.anyio
async def test_unknown_profile_lists_known_ones(tmp_path: Path) -> None:
    res = resolver_for(tmp_path, "")
    with pytest.raises(CredentialError, match=r"no credential profile 'github:other'.*known: github:default"):
        await res.resolve("github:other")


@pytest.mark.anyio
async def test_file_source_with_0600_resolves_relative_to_config(tmp_path: Path) -> None:
    secret = tmp_path / "gh.token"
    secret.write_text(CANARY + "\n")
    secret.chmod(0o600)
    res = resolver_for(tmp_path, '[credentials."github:default"]\nsource = "file:gh.token"\n')
    assert await res.resolve("github:default") == CANARY


@pytest.mark.anyio
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620, 0o666])
async def test_file_source_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "gh.token"
    secret.write_text(CANARY)
    secret.chmod(mode)
    res = resolver_for(tmp_path, f'[credentials."github:default"]\nsource = "file:{secret}"\n')
    with pytest.raises(CredentialError, match=rf"mode {mode:04o}\); run `chmod 600 {secret}`") as info:
        await res.resolve("github:default")
    assert CANARY not in str(info.value)


@pytest.mark.anyio
async def test_file_source_symlink_to_open_file_is_judged_by_the_target(tmp_path: Path) -> None:
    target = tmp_path / "world.txt"
    target.write_text(CANARY)
    target.chmod(0o644)
    link = tmp_path / "gh.token"
    link.symlink_to(target)
    res = resolver_for(tmp_path, '[credentials."github:default"]\nsource = "file:gh.token"\n')
    with pytest.raises(CredentialError, match="readable or writable by other users"):
        await res.resolve("github:default")


@pytest.mark.anyio
async def test_file_source_missing_directory_and_fifo(tmp_path: Path) -> None:
    res = resolver_for(
        tmp_path,
        '[credentials."github:a"]\nsource = "file:none"\n[credentials."github:b"]\nsource = "file:."\n',
    )
    with pytest.raises(CredentialError, match="does not exist"):
        await res.resolve("github:a")
    with pytest.raises(CredentialError, match="not a regular file"):
        await res.resolve("github:b")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    res = resolver_for(tmp_path, '[credentials."github:c"]\nsource = "file:fifo"\n')
    with anyio.fail_after(5):  # a FIFO must be refused, not block forever
        with pytest.raises(CredentialError, match="not a regular file"):
            await res.resolve("github:c")


@pytest.mark.anyio
async def test_empty_or_multiline_secret_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EMPTY_T", "  \n")
    monkeypatch.setenv("MULTI_T", f"{CANARY}\nsecond")
    res = resolver_for(
        tmp_path,
        '[credentials."github:e"]\nsource = "env:EMPTY_T"\n'
        '[credentials."github:m"]\nsource = "env:MULTI_T"\n',
    )
    with pytest.raises(CredentialError, match="empty value"):
        await res.resolve("github:e")
    with pytest.raises(CredentialError, match="more than one line") as info:
        await res.resolve("github:m")
    assert CANARY not in str(info.value)


def _command(tmp_path: Path, script: str) -> str:
    path = tmp_path / "tok.py"
    path.write_text(script)
    return f"command:{sys.executable} {path}"


@pytest.mark.anyio
async def test_command_source_runs_without_shell_and_is_cached(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    src = _command(
        tmp_path,
        f"import pathlib\np = pathlib.Path({str(counter)!r})\n"
        f"p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1')\nprint({CANARY!r})\n",
    )
    res = resolver_for(tmp_path, f'[credentials."github:gh"]\nsource = "{src}"\nttl_s = 60\n')
    values = []

    async def one() -> None:
        values.append(await res.resolve("github:gh"))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert values == [CANARY] * 5
    assert counter.read_text() == "1"  # five concurrent calls, one run
    res.invalidate("github:gh")
    await res.resolve("github:gh")
    assert counter.read_text() == "2"


@pytest.mark.anyio
async def test_ttl_zero_reads_every_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ROT_T", "one")
    res = resolver_for(tmp_path, '[credentials."github:r"]\nsource = "env:ROT_T"\nttl_s = 0\n')
    assert await res.resolve("github:r") == "one"
    monkeypatch.setenv("ROT_T", "two")
    assert await res.resolve("github:r") == "two"


@pytest.mark.anyio
async def test_command_shell_metacharacters_are_not_interpreted(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    res = resolver_for(tmp_path, f'[credentials."github:s"]\nsource = "command:echo tok; touch {marker}"\n')
    # echo gets the literal arguments: one line "tok; touch <marker>", and no file appears.
    assert await res.resolve("github:s") == f"tok; touch {marker}"
    assert not marker.exists()


@pytest.mark.anyio
async def test_command_failure_timeout_and_missing_program(tmp_path: Path) -> None:
    fail = _command(tmp_path, "import sys\nprint('not logged in', file=sys.stderr)\nsys.exit(4)\n")
    body = (
        f'[credentials."github:f"]\nsource = "{fail}"\n'
        f'[credentials."github:t"]\nsource = "command:sleep 30"\ntimeout_s = 0.3\n'
        '[credentials."github:n"]\nsource = "command:no-such-program-xyz"\n'
    )
    res = resolver_for(tmp_path, body)
    with pytest.raises(CredentialError, match="exited with status 4: not logged in"):
        await res.resolve("github:f")
    with anyio.fail_after(5):
        with pytest.raises(CredentialError, match=r"did not finish within 0.3 s"):
            await res.resolve("github:t")
    with pytest.raises(CredentialError, match="'no-such-program-xyz' was not found on PATH"):
        await res.resolve("github:n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f'[credentials."github:default"]\nsource = "{CANARY}"\n', "must start with env:, file: or command:"),
        (
            f'[credentials."github:default"]\nsource = "token:{CANARY}"\n',
            "must start with env:, file: or command:",
        ),
        ('[credentials."GitHub"]\nsource = "env:X"\n', "must look like provider:name"),
        ('[credentials."github:default"]\nsorce = "env:X"\n', "unknown key credentials.github:default.sorce"),
        ('[credentials."github:default"]\nttl_s = 5\n', "needs source ="),
        ('[credentials."github:default"]\nsource = "env:X"\nttl_s = -1\n', "ttl_s must be a number >= 0"),
        ('[credentials."github:default"]\nsource = "env:not a name"\n', "env: needs a variable name"),
    ],
)
def test_bad_profiles_are_config_errors_that_never_echo_a_pasted_token(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        resolver_for(tmp_path, body)
    assert CANARY not in str(info.value)
