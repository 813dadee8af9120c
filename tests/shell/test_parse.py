"""Parsing, program normalisation and the exec-capable table."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from tollhouse.config import ConfigError, parse_config
from tollhouse.tools import build_registry
from tollhouse.tools.shell import ShellRunInput
from tollhouse.tools.shell.execcap import guarded_indices, stdin_is_code
from tollhouse.tools.shell.exectable import PROGRAMS
from tollhouse.tools.shell.parse import child_path, normalise_program, parse_command

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tools" / "shell.md"


@pytest.mark.parametrize(
    ("command", "mode", "argv"),
    [
        ("git status", "argv", ["git", "status"]),
        ("  git\tstatus  ", "argv", ["git", "status"]),
        ("git commit -m 'a b'", "argv", ["git", "commit", "-m", "a b"]),
        ('git commit -m "a b"', "argv", ["git", "commit", "-m", "a b"]),
        ("git log --format=%H", "argv", ["git", "log", "--format=%H"]),
        ("pytest -k 'not slow'", "argv", ["pytest", "-k", "not slow"]),
        ("echo a|b", "shell", None),
        ("echo 'a;b'", "shell", None),
        ("X=1 make", "shell", None),
        ("echo ~", "shell", None),
        ("echo \\x", "shell", None),
    ],
)
def test_command_strings(command: str, mode: str, argv: list[str] | None) -> None:
    parsed = parse_command(None, command)
    assert parsed.mode == mode
    if argv is not None:
        assert list(parsed.argv) == argv
    else:
        assert parsed.argv == ("/bin/sh", "-c", command)


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [
        ({}, "exactly one of `argv`"),
        ({"argv": ["a"], "command": "a"}, "exactly one of `argv`"),
        ({"argv": []}, "at least 1 item"),
        ({"argv": [""]}, "`argv[0]` is empty"),
        ({"argv": ["a\x00b"]}, "NUL byte"),
        ({"command": "   "}, "`command` is empty"),
        ({"command": "git 'unclosed"}, "cannot parse `command` (No closing quotation)"),
        ({"argv": ["a"], "env": {"A=B": "x"}}, "not a valid environment variable name"),
        ({"argv": ["a"], "timeout_s": 0}, "greater than 0"),
        ({"argv": ["a"], "shell": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(arguments: dict, needle: str) -> None:
    with pytest.raises(ValidationError) as info:
        ShellRunInput.model_validate(arguments)
    assert needle in str(info.value)


def test_program_normalisation(tmp_path: Path) -> None:
    path = child_path()
    git = shutil.which("git", path=path)
    assert git is not None
    assert normalise_program(git, path) == "git"
    assert (
        normalise_program(
            os.path.join(os.path.dirname(git), "..", os.path.basename(os.path.dirname(git)), "git"), path
        )
        == "git"
    )
    link = tmp_path / "git"
    link.symlink_to(git)  # the same file, but planted where the agent can write
    assert normalise_program(str(link), path) == str(tmp_path.resolve() / "git")
    assert normalise_program("./git", path) == "./git"
    assert normalise_program("bin/git", path) == "bin/git"
    assert normalise_program("/nonexistent/git", path) == "/nonexistent/git"


def test_child_path_drops_relative_and_empty_entries() -> None:
    assert child_path("/usr/bin::.:bin:/bin:/usr/bin") == "/usr/bin:/bin"


@pytest.mark.parametrize(
    ("argv", "guarded"),
    [
        (["git", "status"], []),
        (["git", "-c", "x=y", "log"], [1]),
        (["git", "--no-pager", "log", "-p"], []),
        (["git", "push", "-u", "origin", "main"], []),
        (["git", "clone", "-u", "x", "url"], [2]),
        (["git", "rebase", "-ix", "cmd"], [2]),
        (["git", "config", "alias.x", "!sh"], [1, 2, 3]),
        (["find", ".", "-exec", "grep", "x", "{}", ";", "-exec", "sh", "-c", "y", ";"], [2, 3, 7, 8, 9]),
        (["env", "A=1", "B=2", "git", "status"], [0, 3]),
        (["timeout", "-k", "1", "5", "pytest", "-q"], [0, 4]),
        (["nice", "-5", "make"], [0, 2]),
        (["xargs", "-0"], [0]),
        (["/usr/bin/env", "sh"], [0, 1]),
        (["python3.12", "-m", "pytest", "-q"], []),
        (["python3", "script.py"], []),
        (["tar", "-xzf", "a.tgz"], []),
        (["tar", "xzf", "a.tgz"], []),
        (["tar", "--use-compress=sh", "-cf", "a", "b"], [1]),
        (["make", "-j4", "test"], []),
        (["sed", "-i", "s/a/b/", "f"], [2]),
        (["uv", "run", "pytest"], [1, 2]),
        (["npx", "x"], [0, 1]),
        (["vim", "+!sh", "f"], [1]),
        (["ssh", "host", "ls"], []),
    ],
)
def test_guarded_indices(argv: list[str], guarded: list[int]) -> None:
    assert guarded_indices(argv) == guarded


def test_deep_wrapper_nesting_fails_closed() -> None:
    argv = ["env"] * 20 + ["true"]
    assert guarded_indices(argv) == list(range(21))


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["sh"], True),
        (["bash", "-"], True),
        (["sh", "-s", "x"], True),
        (["python3"], True),
        (["sh", "build.sh"], False),
        (["cat"], False),
        (["python", "-m", "json.tool"], False),
    ],
)
def test_stdin_is_code(argv: list[str], code: bool) -> None:
    assert stdin_is_code(argv) is code


def test_every_table_entry_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name in PROGRAMS if f"`{name}`" not in text]
    assert not missing, f"docs/tools/shell.md does not list {missing}"


def test_registered_family_and_config_section(tmp_path: Path) -> None:
    assert build_registry(["shell"]).names() == ["shell_run"]
    config = parse_config('[shell]\nmax_timeout_s = 5\nsandbox = "bwrap"\n', tmp_path / "tollhouse.toml")
    assert config.section("shell")["sandbox"] == "bwrap"
    with pytest.raises(ConfigError, match=r"unknown key shell\.passenv"):
        parse_config('[shell]\npassenv = ["X"]\n', tmp_path / "tollhouse.toml")
