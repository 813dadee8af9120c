"""Real Node.js programs the tests run (an OpenID provider, reference MCP servers, the conformance suite).

Each lives in its own folder under ``tests/node/<name>/`` with a ``package.json`` and a lock file.
``.ci/run`` installs them all; a local run installs one the first time a test asks for it. A test that
needs one and cannot have it fails: it does not skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_ROOT = Path(__file__).parent / "node"


def node_package(name: str) -> Path:
    """The folder ``tests/node/<name>`` with its ``node_modules`` installed, or a test failure saying why."""
    folder = NODE_ROOT / name
    if not (folder / "package.json").is_file():
        pytest.fail(f"tests/node/{name}/package.json is missing")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("this test needs Node.js and npm on PATH (.ci/run expects them on the machine)")
    if not (folder / "node_modules").is_dir():
        verb = "ci" if (folder / "package-lock.json").is_file() else "install"
        done = subprocess.run(
            ["npm", verb, "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"npm {verb} in tests/node/{name} failed:\n{done.stderr[-2000:]}")
    return folder
