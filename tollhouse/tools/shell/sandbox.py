"""Optional OS sandbox: bubblewrap with a read-only system, the workspace writable, and no network.

``sandbox_status()`` probes whether bubblewrap actually works here (it needs user namespaces, which some
kernels and containers forbid); ``tollhouse doctor`` shows it. When the config asks for the sandbox and
it does not work, the tool refuses with the probe's reason: it never runs the command unsandboxed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollhouse.tools.base import ToolError

_cache: dict[str, SandboxStatus] = {}


# One definition for the probe and the real command line: the probe must try exactly the namespaces
# a sandboxed command will need, or it could report "works" where commands then fail.
SYSTEM_VIEW = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")
ISOLATION = (
    "--unshare-net",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
)


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    backend: str
    detail: str
    bwrap: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "available": self.available,
            "detail": self.detail,
            "bwrap": self.bwrap,
        }


def sandbox_status(path: str | None = None, *, refresh: bool = False) -> SandboxStatus:
    """Whether ``sandbox = "bwrap"`` can work on this machine, and why not when it cannot.

    ``path`` is the PATH to find ``bwrap`` in (default: the server's). The probe runs bubblewrap once
    with the same namespaces the tool uses; its result is cached per bwrap binary.
    """
    found = shutil.which("bwrap", path=path if path is not None else os.environ.get("PATH", os.defpath))
    if found is None:
        return SandboxStatus(
            False,
            "bwrap",
            "bubblewrap (bwrap) is not installed or not on PATH; install it (apt-get install bubblewrap, "
            'dnf install bubblewrap) or set [shell] sandbox = "none"',
        )
    found = os.path.realpath(found)
    if not refresh and found in _cache:
        return _cache[found]
    probe = [found, *SYSTEM_VIEW, *ISOLATION, "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, env={"PATH": os.defpath}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        status = SandboxStatus(False, "bwrap", f"bubblewrap at {found} could not be started: {exc}", found)
    else:
        if done.returncode == 0:
            status = SandboxStatus(
                True,
                "bwrap",
                f"bubblewrap at {found} works (read-only system, writable workspace, no network)",
                found,
            )
        else:
            why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
            status = SandboxStatus(
                False,
                "bwrap",
                f"bubblewrap at {found} cannot create its namespaces here ({why}); it needs unprivileged "
                "user namespaces (sysctl kernel.unprivileged_userns_clone=1, or a container run with "
                'them allowed), or set [shell] sandbox = "none"',
                found,
            )
    _cache[found] = status
    return status


def require_sandbox(path: str | None = None) -> SandboxStatus:
    status = sandbox_status(path)
    if not status.available:
        raise ToolError(
            f'[shell] sandbox = "bwrap" is configured but the sandbox cannot work on this machine: '
            f"{status.detail}. The command was not run (tollhouse never falls back to running unsandboxed)."
        )
    return status


def _program_tops(hidden: Path, dirs: list[str]) -> list[Path]:
    """The folders right below ``hidden`` (a folder the sandbox replaces with an empty one) that hold
    a PATH entry or the program itself, so they can come back read-only: programs installed under
    home (pyenv, cargo, ~/.local) or under /tmp (a CI job's virtual environment) stay runnable."""
    tops: dict[Path, None] = {}
    for entry in dirs:
        if not entry or not os.path.isabs(entry):
            continue
        for candidate in (Path(entry), Path(os.path.realpath(entry))):
            if candidate != hidden and candidate.is_relative_to(hidden):
                top = hidden / candidate.relative_to(hidden).parts[0]
                if top.is_dir():
                    tops[top] = None
    return list(tops)


def wrap(
    status: SandboxStatus,
    argv: list[str],
    *,
    cwd: Path,
    writable: tuple[Path, ...],
    readonly: tuple[Path, ...] = (),
    masked: tuple[Path, ...] = (),
    home: str | None = None,
    path: str = "",
) -> list[str]:
    """The bwrap command line that runs ``argv`` inside the sandbox."""
    assert status.bwrap is not None
    out = [
        status.bwrap,
        *SYSTEM_VIEW,
        "--tmpfs",
        "/tmp",  # noqa: S108 - a fresh private tmpfs inside the sandbox
        "--tmpfs",
        "/run",
    ]
    program_dirs = [*path.split(os.pathsep), os.path.dirname(argv[0])]
    for top in _program_tops(Path("/tmp"), program_dirs):  # noqa: S108 - the folder hidden above
        if not any(r.is_relative_to(top) or top.is_relative_to(r) for r in writable):
            out += ["--ro-bind", str(top), str(top)]
    # Hide the home folder (keys, tokens, shell history) unless a root lives inside it or is it.
    if home and os.path.isdir(home) and not any(Path(home).is_relative_to(r) for r in writable):
        out += ["--tmpfs", home]
        # The top folder holding each PATH entry and the program comes back read-only; ~/.ssh and
        # friends stay hidden.
        for top in _program_tops(Path(home), program_dirs):
            out += ["--ro-bind", str(top), str(top)]
    for root in writable:
        out += ["--bind", str(root), str(root)]
    for path in readonly:  # config file, every .git: re-bound read-only on top of the writable root
        if os.path.lexists(path):
            out += ["--ro-bind", str(path), str(path)]
    for path in masked:  # state, the operator's keys and trust records: not even readable
        if path.is_dir() and not any(r.is_relative_to(path) for r in writable):
            out += ["--tmpfs", str(path)]
    out += [
        *ISOLATION,
        "--chdir",
        str(cwd),
        "--",
        *argv,
    ]
    return out


def repository_paths(roots: tuple[Path, ...]) -> list[Path]:
    """Each root's ``.git`` and, when ``.git`` is a file (a worktree or submodule checkout), the folders
    it points at: what the sandbox keeps read-only so no command can plant a hook or config there.
    (Nested repositories are not searched for: git is refused in them, see gitpin.)"""
    found: list[Path] = []
    for root in roots:
        dot = root / ".git"
        if not os.path.lexists(dot):
            continue
        found.append(dot)
        if dot.is_file():
            try:
                first = dot.read_text(encoding="utf-8", errors="replace").splitlines()[0]
            except (OSError, IndexError):
                continue
            if first.startswith("gitdir:"):
                gitdir = Path(os.path.realpath(root / first[len("gitdir:") :].strip()))
                found.append(gitdir)
                common = gitdir / "commondir"
                if common.is_file():
                    text = common.read_text(encoding="utf-8", errors="replace").strip()
                    found.append(Path(os.path.realpath(gitdir / text)))
    return [p for p in dict.fromkeys(found) if os.path.lexists(p)]


# Programs whose normal job is to run code from the workspace: the tests, the Makefile, package
# scripts, the script named. An agent that may edit files may write that code.
WORKSPACE_CODE = frozenset(
    {
        "pytest", "py.test", "python", "python3", "pypy", "pypy3", "tox", "nox", "make", "gmake", "just",
        "rake", "npm", "pnpm", "yarn", "npx", "node", "bun", "deno", "cargo", "go", "mvn", "gradle",
        "sh", "bash", "dash", "zsh", "ruby", "perl", "php", "uv", "poetry", "hatch", "pdm", "pipenv",
    }
)  # fmt: skip


def _field(rule: Any, name: str) -> Any:
    return rule.get(name) if isinstance(rule, dict) else getattr(rule, name, None)


def _runs_workspace_code(pattern: str) -> bool:
    program = pattern.split()[0] if pattern.split() else ""
    base = os.path.basename(program)
    bare = base.rstrip("0123456789.") or base
    return (
        "/" in program or any(c in program for c in "*?[") or base in WORKSPACE_CODE or bare in WORKSPACE_CODE
    )


def unsandboxed_code_warnings(shell: Mapping[str, Any], rules: Sequence[Any]) -> list[tuple[str, str]]:
    """(rule id, warning) for each rule that lets ``shell_run`` run workspace code without asking while
    the sandbox is off. ``policy check`` and ``doctor`` print these: such a command can do anything
    the user running tollhouse can."""
    if shell.get("sandbox", "none") == "bwrap":
        return []
    from tollhouse.globs import compile_name_glob

    out: list[tuple[str, str]] = []
    for rule in rules:
        if _field(rule, "effect") != "allow":
            continue
        tools = _field(rule, "tools") or []
        if not any(compile_name_glob(str(glob)).fullmatch("shell_run") for glob in tools):
            continue
        argv = [str(p) for p in (_field(rule, "argv") or [])]
        commands = _field(rule, "commands")
        code = [p for p in argv if _runs_workspace_code(p)]
        if commands:
            code.append("shell command lines")
        if not argv and not commands:
            code.append("any command")
        if not code:
            continue
        usable = sandbox_status()
        how = (
            'set [shell] sandbox = "bwrap" (it works here)'
            if usable.available
            else f'bubblewrap cannot run here ({usable.detail}), so set effect = "ask"'
        )
        shown = ", ".join(repr(c) for c in dict.fromkeys(code))
        out.append(
            (
                str(_field(rule, "id")),
                f"rule {_field(rule, 'id')} allows shell_run to run workspace code without the sandbox "
                f"({shown}): an agent that can write a test, a conftest.py or a Makefile can then do "
                "anything the user running tollhouse can (read the operator's keys, rewrite .git and "
                f"tollhouse state, reach the network). To contain it, {how}",
            )
        )
    return out
