"""``shell_run``: one command, decided on its parsed argv, run without a shell, bounded in every way."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from tollhouse.opdirs import operator_home
from tollhouse.tools.base import Effect, PolicyDenied, Tool, ToolContext, ToolError
from tollhouse.tools.shell import gitpin, pins
from tollhouse.tools.shell.execcap import stdin_is_code
from tollhouse.tools.shell.parse import Parsed, child_path, facets_for, parse_command
from tollhouse.tools.shell.runner import run_process
from tollhouse.tools.shell.sandbox import repository_paths, require_sandbox, wrap
from tollhouse.tools.shell.settings import ShellSettings
from tollhouse.workspace import PathError


class ShellRunInput(BaseModel):
    # The example is what a skill shows: the schema alone cannot say "argv or command" (a validator).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"argv": ["git", "status"]}]})

    argv: list[str] | None = Field(
        default=None,
        min_length=1,
        description='The program and its arguments as a list, e.g. ["git", "status"]. Preferred: no shell '
        "is involved, so quoting cannot go wrong.",
    )
    command: str | None = Field(
        default=None,
        description="A command line, split like POSIX sh splits words (quotes allowed). Any other shell "
        "syntax (pipes, redirection, $, `, globs, ;, &&, newlines, backslashes) makes it a shell command, "
        "which runs only if a policy rule names that exact command line.",
    )
    cwd: str | None = Field(
        default=None, description="Working folder inside a workspace root (default: the root)."
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Wall-clock limit in seconds; capped by the server's [shell] max_timeout_s.",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables; only names the server allows."
    )
    stdin: str | None = Field(default=None, description="Text written to the command's standard input.")

    _parsed: tuple[tuple[tuple[str, ...] | None, str | None], Parsed] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_command(self) -> ShellRunInput:
        try:
            self.parsed()
        except ToolError as exc:
            raise ValueError(str(exc)) from exc
        for name in self.env:
            if not name or "=" in name or "\x00" in name or "\x00" in self.env[name]:
                raise ValueError(f"env name {name!r} is not a valid environment variable name")
        return self

    def parsed(self) -> Parsed:
        """The command as parsed at validation: policy (facets) and the run read it again. Keyed on
        the fields it came from, so a field changed after validation is parsed anew."""
        key = (None if self.argv is None else tuple(self.argv), self.command)
        if self._parsed is None or self._parsed[0] != key:
            self._parsed = (key, parse_command(self.argv, self.command))
        return self._parsed[1]


class ShellRunResult(BaseModel):
    exit_code: int | None = Field(description="The exit status; null when a signal ended the command.")
    signal: str | None = Field(description="The signal that ended the command (SIGKILL after a timeout).")
    timed_out: bool
    duration_ms: int
    stdout: str = Field(
        description="Standard output decoded as UTF-8 (bytes that are not UTF-8 appear as U+FFFD); when "
        "longer than the cap, its start and end with a marker saying how many bytes were left out."
    )
    stderr: str = Field(description="Standard error, decoded and capped like stdout.")
    stdout_truncated: bool
    stderr_truncated: bool
    stdout_bytes: int = Field(description="Bytes the command wrote to stdout in total.")
    stderr_bytes: int
    mode: str = Field(description="argv (no shell) or shell (/bin/sh -c, allowed by a commands rule).")
    sandboxed: bool
    note: str | None = Field(default=None, description="Anything about the output worth knowing (decoding).")


def shell_facets(args: BaseModel) -> dict[str, list[str]]:
    assert isinstance(args, ShellRunInput)
    return facets_for(args.parsed(), args.cwd)


_SETTINGS: dict[int, tuple[object, ShellSettings]] = {}


def _settings(ctx: ToolContext) -> ShellSettings:
    """The [shell] settings of this call's config, read once per config object (held here, so its
    id is not reused while the entry lives)."""
    config = getattr(ctx.services, "config", None)
    cached = _SETTINGS.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1]
    settings = ShellSettings.from_config(config)
    if len(_SETTINGS) > 16:
        _SETTINGS.clear()
    _SETTINGS[id(config)] = (config, settings)
    return settings


def _environment(settings: ShellSettings, extra: dict[str, str], pinned: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": child_path(),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "dumb",
    }
    for name in settings.pass_env:
        if name in os.environ:
            env[name] = os.environ[name]
    for name, value in extra.items():
        gitpin.check_env_name(name)
        if name == "PATH":
            raise ToolError(
                "`env` may not set PATH: programs are looked up on the server's PATH, as policy saw"
            )
        if name not in settings.allow_env:
            raise PolicyDenied(
                "shell.allow_env",
                f"environment variable {name!r} may not be set by a call; the operator can list it in "
                "[shell] allow_env",
            )
        env[name] = value
    env.update(pinned)  # last, so nothing above can loosen it
    return env


def _runs_git(parsed: Parsed) -> bool:
    """Whether the command may start git: as the program, under a wrapper (`timeout 60 git status`),
    or in a shell line a rule named. Judged widely: the check it triggers only refuses inside a nested
    repository."""
    if parsed.mode == "shell":
        return re.search(r"(^|[^\w.-])git([^\w.-]|$)", parsed.command or "") is not None
    return any(os.path.basename(token) == "git" for token in parsed.argv)


def _which(token: str, path: str) -> str | None:
    """``shutil.which(token, path=path)`` for a bare name on the child's PATH (absolute entries, no
    repeats: ``child_path``), with one stat per entry instead of two and an access check."""
    for folder in path.split(os.pathsep):
        if not os.path.isabs(folder):  # an empty or relative entry would look in the server's cwd
            continue
        candidate = os.path.join(folder, token)
        try:
            mode = os.stat(candidate).st_mode
        except (OSError, ValueError):
            continue
        if not stat.S_ISDIR(mode) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _program(parsed: Parsed, cwd: Path, env_path: str, ctx: ToolContext, settings: ShellSettings) -> str:
    """The absolute path to execute for argv[0], found the way policy normalised it."""
    token = parsed.argv[0]
    if "/" in token:
        path = token if os.path.isabs(token) else os.path.join(cwd, token)
        if not os.path.isfile(path):
            raise ToolError(f"program {token!r} does not exist (looked at {path})")
        if not os.access(path, os.X_OK):
            raise ToolError(f"program {token!r} is not executable")
        return path
    found = _which(token, env_path)
    if found is None:
        raise ToolError(
            f"program {token!r} was not found on PATH; check its name, or install it on the server"
        )
    real = os.path.realpath(found)
    inside = any(real == root or real.startswith(root + "/") for root in map(str, ctx.workspace.roots))
    if inside and not settings.workspace_programs:
        raise PolicyDenied(
            "shell.workspace_program",
            f"{token!r} resolves through PATH to {found}, inside the workspace, where the agent could "
            "have replaced it; name it by path in a rule, or set [shell] workspace_programs = true",
        )
    return found


def _stream_cap(settings: ShellSettings, ctx: ToolContext) -> int:
    """The per-stream cap, kept low enough that both streams fit the gate's result limit, and what the
    face can deliver in one result (HTTP: one event), even when every kept byte becomes a 3-byte
    U+FFFD."""
    limits = getattr(getattr(ctx.services, "config", None), "limits", None)
    bounds = [getattr(limits, "max_result_bytes", None), getattr(ctx.call, "result_budget", None)]
    usable = [b for b in bounds if isinstance(b, int) and b > 0]
    if usable:
        return max(1024, min(settings.output_cap_bytes, min(usable) // 8))
    return settings.output_cap_bytes


async def shell_run(args: ShellRunInput, ctx: ToolContext) -> ShellRunResult:
    settings = _settings(ctx)
    parsed = args.parsed()
    try:
        where = ctx.workspace.resolve(args.cwd or ".", ctx.roots)
    except PathError as exc:
        raise ToolError(f"cwd: {exc}; give a folder inside the workspace") from exc
    if not where.abs.is_dir():
        raise ToolError(f"cwd {args.cwd!r} is not a folder")
    # Judged against the operator's roots, not a root a client announced: git's search for a repository
    # walks up past a client root, so the check must too.
    home = ctx.workspace.containing_root(where.abs) or where.root
    gitpin.check_cwd(where.abs, home)
    if _runs_git(parsed):
        gitpin.check_git_repository(where.abs, home)
        if parsed.mode == "argv":
            gitpin.check_git_options(list(parsed.argv), where.abs, home)
    env = _environment(settings, args.env, pins.pinned_env(ctx.workspace.roots, home))
    timeout = min(args.timeout_s or settings.default_timeout_s, settings.max_timeout_s)

    argv = list(parsed.argv)
    if parsed.mode == "argv" and args.stdin is not None and stdin_is_code(parsed.argv):
        raise PolicyDenied(
            "shell.stdin_code",
            f"{parsed.argv[0]!r} would run its stdin as code, which no argv rule can see; write the code to "
            "a script file in the workspace and run that instead",
        )
    if parsed.mode == "argv":
        argv[0] = _program(parsed, where.abs, env["PATH"], ctx, settings)
    sandboxed = settings.sandbox == "bwrap"
    if sandboxed:
        status = require_sandbox()
        config_file = ctx.workspace.config_file
        readonly = (
            *([config_file] if config_file is not None else []),
            *repository_paths(ctx.workspace.roots),
        )
        argv = wrap(
            status,
            argv,
            cwd=where.abs,
            writable=tuple(ctx.roots),
            readonly=tuple(readonly),
            masked=(ctx.workspace.state_dir, operator_home()),
            home=env["HOME"],
            path=env["PATH"],
        )

    ctx.record(
        argv=list(parsed.argv), mode=parsed.mode, cwd=str(where.abs), timeout_s=timeout, sandboxed=sandboxed
    )

    # Output lines stream to the client as progress; the gate redacts every progress message.
    async def line(total: int, text: str) -> None:
        await ctx.progress(total, None, text)

    result = await run_process(
        argv,
        cwd=where.abs,
        env=env,
        stdin=args.stdin,
        timeout_s=timeout,
        cap=_stream_cap(settings, ctx),
        on_line=line if ctx.progress_sink is not None else None,
        line_interval_s=settings.progress_interval_s,
        program_label=parsed.argv[0],
    )
    ctx.record(
        exit_code=result.exit_code,
        signal=result.signal,
        timed_out=result.timed_out,
        duration_ms=result.duration_ms,
        stdout_bytes=result.stdout.total,
        stderr_bytes=result.stderr.total,
        stdout_sha256=result.stdout.sha256,
        stderr_sha256=result.stderr.sha256,
        output_held_open=result.held_open,
        leftovers_killed=result.killed,
        contained=result.contained,
    )
    # Redacted before the head+tail cut (output.py): a cut first could split a token past recognition.
    spans = ctx.services.redactor.spans if getattr(ctx.services, "redactor", None) is not None else None
    stdout, stderr = result.stdout.text(spans), result.stderr.text(spans)
    notes = [
        f"{name} held bytes that are not UTF-8 text or are control characters; they are shown as U+FFFD"
        for name, text, buf in (("stdout", stdout, result.stdout), ("stderr", stderr, result.stderr))
        if "\ufffd" in text and b"\xef\xbf\xbd" not in bytes(buf.head) + bytes(buf.tail)
    ]
    if result.timed_out:
        notes.append(f"timed out after {timeout:g} s; the command and everything it started were killed")
        ctx.command_failed("timeout", f"the command timed out after {timeout:g} s and was killed")
    elif result.exit_code is None:
        ctx.command_failed("signal", f"the command was ended by {result.signal}")
    elif result.exit_code != 0:
        ctx.command_failed("exit", f"the command exited with status {result.exit_code}")
    if result.killed:
        # Escapees from the group (setpgid, setsid, double fork) are found by the supervisor too.
        n = result.killed
        notes.append(
            f"{n} process{'es' if n > 1 else ''} the command started outlived it and "
            f"{'were' if n > 1 else 'was'} killed by the call's supervisor, whatever "
            "process group or session it had moved to"
        )
    if result.held_open:
        notes.append(
            "the command exited, but a process it started left its process group (setsid) and still "
            "held the output open; that process may still be running, and its later output was not "
            'read. [shell] sandbox = "bwrap" contains such processes'
        )
    return ShellRunResult(
        exit_code=result.exit_code,
        signal=result.signal,
        timed_out=result.timed_out,
        duration_ms=result.duration_ms,
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=result.stdout.truncated,
        stderr_truncated=result.stderr.truncated,
        stdout_bytes=result.stdout.total,
        stderr_bytes=result.stderr.total,
        mode=parsed.mode,
        sandboxed=sandboxed,
        note="; ".join(notes) or None,
    )


SHELL_RUN = Tool(
    name="shell_run",
    title="Run a command",
    description=(
        "Run one command in the workspace and return its exit code and output. Prefer `argv` (a list: "
        '["pytest", "-q"]); a `command` string is split like sh words, and anything else shell-like '
        "(pipes, redirection, $(...), globs, ;, &&) needs an explicit policy rule. Output is capped "
        "(start and end kept); long runs time out and are killed with everything they started."
    ),
    input_model=ShellRunInput,
    output_model=ShellRunResult,
    run=shell_run,
    effects=frozenset({Effect.EXEC, Effect.READ, Effect.WRITE}),
    family="shell",
    facets_of=shell_facets,
    destructive=True,
)

TOOLS: list[Tool] = [SHELL_RUN]
