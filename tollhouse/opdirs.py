"""The operator's own folders: outside every workspace, so no tool an agent calls can reach them.

``TOLLHOUSE_HOME`` names the folder; without it, ``$XDG_CONFIG_HOME/tollhouse`` (``~/.config/tollhouse``).
It holds the policies a person trusted (``trust/``) and, per workspace, what the gate keeps secret
from agents (``workspaces/<name>-<hash>/``: the receipt-signing key, a generated HTTP token, witnesses).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

ENV_HOME = "TOLLHOUSE_HOME"


def operator_home() -> Path:
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(os.path.realpath(Path(env).expanduser()))
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(os.path.realpath(base)) / "tollhouse"


def workspace_id(root: Path) -> str:
    """A stable, readable folder name for a workspace root: its last name and a hash of its real path."""
    real = os.path.realpath(root)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(real))[:40].lstrip(".") or "root"
    return f"{name}-{digest}"


def workspace_dir(root: Path) -> Path:
    """The operator's private folder for one workspace (not created here)."""
    return operator_home() / "workspaces" / workspace_id(root)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` readable by the operator alone, with any missing parents private too (mkdir's
    ``parents`` would give them the umask's mode); an existing ``path`` is tightened."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def secrets_dir(state_dir: Path) -> Path:
    """Where the gate keeps what agents must not read for the workspace whose state is ``state_dir``
    (``<root>/.tollhouse``): the operator's folder for that workspace (not created here)."""
    return workspace_dir(Path(state_dir).parent)
