"""Configuration pinned for programs that read it from the working folder.

Several programs a profile allows read a config file the agent can write (git's ``.git/config``,
``ruff.toml``, ``pyproject.toml``, ``pytest.ini``), and some of its keys point outside the workspace or
name a program to run. Per program, tollhouse either pins the key through the child's environment
(which the program lets override its config files), or treats the program as running workspace code
(docs/tools/shell.md, "Config read from the workspace"):

- git: see ``gitpin`` (discovery stops at the root, hooks and fsmonitor off, no nested repository).
- ruff: ``cache-dir`` in a workspace config made ``ruff check`` write anywhere; ``RUFF_CACHE_DIR`` (read
  like ``--cache-dir``, which beats every config file) pins it to ``.ruff_cache`` in the root.
- pytest, make, npm, tox, nox: their config is code or names code (conftest.py, ``addopts = -p``,
  Makefile recipes, package scripts); nothing an environment variable pins makes them safe, so they
  run sandboxed or after a person approves (profiles.py).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from tollhouse.tools.shell import gitpin


def pinned_env(roots: tuple[Path, ...], home: Path) -> dict[str, str]:
    """Variables every child gets last, so neither the server's nor the call's can loosen them.
    ``home`` is the operator's root that holds the working folder."""
    return dict(_pinned(tuple(map(str, roots)), str(home)))  # a copy: the caller's to change


@functools.lru_cache(maxsize=16)
def _pinned(roots: tuple[str, ...], home: str) -> tuple[tuple[str, str], ...]:
    # A pure function of the root names, asked on every shell call: computed once per workspace.
    env = gitpin.pinned_env([Path(r) for r in roots])
    env["RUFF_CACHE_DIR"] = os.path.join(home, ".ruff_cache")
    return tuple(env.items())
