"""Helpers for the trust tests: run the real CLI, read what a subprocess left on disk."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env, tollhouse_cmd


def th(cwd: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`tollhouse ARGS` as a person runs it, in ``cwd``; ``env`` adds (or, with "", removes) variables."""
    environ = subprocess_env(**{k: v for k, v in env.items() if v != ""})
    for name, value in env.items():
        if value == "":
            environ.pop(name, None)
    # The venv's programs (pytest) on PATH, as for a person working in it.
    environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + environ.get("PATH", "")
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=environ, input=stdin, capture_output=True, text=True, timeout=120
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` and its bytes: "nothing changed on disk" made checkable."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


def refusal(path: Path, trusted: str | None, now: str) -> str:
    """The exact message serve/call/export print for an untrusted policy."""
    flag = f" --config {path}"
    if trusted is None:
        lead = f"policy {path} is not trusted (sha256 {now[:12]}); nothing was run"
    else:
        lead = (
            f"policy {path} changed since you trusted it (trusted sha256 {trusted[:12]}, now {now[:12]}); "
            "nothing was run"
        )
    return (
        f"tollhouse: {lead}. See what changed with `tollhouse policy diff{flag}`, then accept it with "
        f"`tollhouse policy trust{flag}`\n"
    )
