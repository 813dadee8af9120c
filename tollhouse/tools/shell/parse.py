"""From a call's ``argv`` or ``command`` to what policy sees and what the runner executes.

Two modes. *argv mode*: a list, or a command string with no shell syntax, split with POSIX ``shlex``
rules (quotes only). Nothing ever passes through a shell, so the tokens policy matches are exactly the
argv the program receives. *shell mode*: a command string that uses any shell syntax; policy sees the
whole line as the ``command`` facet and only a rule naming it in ``commands`` can allow it.

The program token is normalised so that one program has one name: a bare name stays bare, and a path
naming the very file ``PATH`` finds for its base name (``/usr/bin/git``) becomes that bare name. Any other
path (``./git``, a symlink in the workspace, ``/opt/other/git``) stays a path and so never matches a rule
written for the bare name.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
from dataclasses import dataclass

from tollhouse.tools.base import ToolError
from tollhouse.tools.shell.execcap import guarded_indices

# Characters that make a command string shell syntax. The set is deliberately wider than what POSIX
# sh strictly needs in every position: being wrong here would let policy see one command while a shell
# would run another, so any doubt means shell mode. Quotes, spaces and tabs are fine: shlex handles them
# the way sh does. Backslashes are not (backslash-newline is a continuation in sh, not in shlex).
SHELL_CHARS = frozenset("|&;<>()$`\\*?[]{}~#!\n\r\x0b\x0c")
# A first word of the form NAME=value is a shell assignment prefix (`LD_PRELOAD=x git status`).
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Parsed:
    mode: str
    """``argv`` or ``shell``."""
    argv: tuple[str, ...]
    """Tokens as given (argv mode) or ``("/bin/sh", "-c", command)`` (shell mode)."""
    command: str | None = None


def is_shell_syntax(command: str) -> bool:
    return any(c in SHELL_CHARS for c in command) or any(ord(c) < 0x20 and c != "\t" for c in command)


def parse_command(argv: list[str] | None, command: str | None) -> Parsed:
    if (argv is None) == (command is None):
        raise ToolError("give exactly one of `argv` (a list of strings, preferred) or `command` (a string)")
    if argv is not None:
        if not argv:
            raise ToolError('`argv` is empty; give the program and its arguments, e.g. ["git", "status"]')
        for token in argv:
            if "\x00" in token:
                raise ToolError("an `argv` token contains a NUL byte, which no program can receive")
        if argv[0] == "":
            raise ToolError("`argv[0]` is empty; it must name the program to run")
        return Parsed("argv", tuple(argv))
    assert command is not None
    if "\x00" in command:
        raise ToolError("`command` contains a NUL byte")
    if not command.strip():
        raise ToolError("`command` is empty; give a command line, or use `argv`")
    if is_shell_syntax(command):
        return Parsed("shell", ("/bin/sh", "-c", command), command)
    try:
        tokens = shlex.split(command, posix=True)
    except ValueError as exc:
        raise ToolError(
            f"cannot parse `command` ({exc}); check its quotes, or pass `argv` as a list"
        ) from exc
    if not tokens:
        raise ToolError("`command` holds no words; give a command line, or use `argv`")
    if _ASSIGNMENT.match(tokens[0]):
        return Parsed("shell", ("/bin/sh", "-c", command), command)
    return Parsed("argv", tuple(tokens))


def child_path(path_env: str | None = None) -> str:
    """The child's PATH: the server's, without empty or relative entries (which would look programs up
    in the working directory, i.e. in the workspace)."""
    return _clean_path(os.environ.get("PATH", os.defpath) if path_env is None else path_env)


@functools.lru_cache(maxsize=16)
def _clean_path(raw: str) -> str:  # a pure function of the text: policy and the tool ask per call
    kept = [entry for entry in raw.split(os.pathsep) if entry and os.path.isabs(entry)]
    return os.pathsep.join(dict.fromkeys(kept))


def _real_dirs(path: str) -> set[str]:
    return {os.path.realpath(entry) for entry in path.split(os.pathsep) if entry}


def normalise_program(token: str, path: str) -> str:
    """The name policy matches for a program token (see the module docstring)."""
    if "/" not in token or not os.path.isabs(token):
        # A bare name stays bare; a relative path (./git, bin/tool) keeps its spelling, slash included,
        # so a rule written for a bare name never matches it. It runs relative to the call's cwd.
        return token
    # Resolve the directories but keep the last component: the name a program is run by matters
    # (multi-call binaries), and a symlink's own location is what the agent could have planted.
    located = os.path.join(os.path.realpath(os.path.dirname(token)), os.path.basename(token))
    base = os.path.basename(located)
    found = shutil.which(base, path=path) if base else None
    if (
        found is not None
        and os.path.realpath(found) == os.path.realpath(located)
        and os.path.dirname(located) in _real_dirs(path)
    ):
        return base
    return located


def facets_for(parsed: Parsed, cwd: str | None, path: str | None = None) -> dict[str, list[str]]:
    where = cwd if cwd is not None else "."
    if parsed.mode == "shell":
        assert parsed.command is not None
        return {"command": [parsed.command], "paths": [where]}
    tokens = list(parsed.argv)
    tokens[0] = normalise_program(tokens[0], child_path(path))
    return {
        "argv": tokens,
        "argv_guarded": [str(i) for i in guarded_indices(tokens)],
        "paths": [where],
    }
