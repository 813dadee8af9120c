"""Where MCP clients keep their server lists, and how a tollhouse entry looks in each.

Used by ``tollhouse install`` (write an entry) and ``tollhouse doctor`` (find entries). Every client
keeps a JSON object of servers under one key; the entry starts the server with an absolute
interpreter path and this workspace's config, so it works from whatever directory the client uses.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tollhouse


class ClientConfigError(Exception):
    """A client config file we will not touch: unreadable, not JSON, or an unexpected shape."""


@dataclass(frozen=True)
class ClientKind:
    name: str
    label: str
    servers_key: str
    """``mcpServers`` for most clients, ``servers`` for VS Code."""
    with_type: bool
    """Whether the entry carries ``"type": "stdio"``."""

    def default_path(self, home: Path | None = None, platform: str | None = None) -> Path:
        home = home or Path.home()
        platform = platform or sys.platform
        appdata = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
        if self.name == "claude-desktop":
            if platform == "darwin":
                return home / "Library/Application Support/Claude/claude_desktop_config.json"
            if platform.startswith("win"):
                return appdata / "Claude/claude_desktop_config.json"
            return home / ".config/Claude/claude_desktop_config.json"
        if self.name == "claude-code":
            return home / ".claude.json"
        if self.name == "cursor":
            return home / ".cursor/mcp.json"
        if self.name == "vscode":
            if platform == "darwin":
                return home / "Library/Application Support/Code/User/mcp.json"
            if platform.startswith("win"):
                return appdata / "Code/User/mcp.json"
            return home / ".config/Code/User/mcp.json"
        raise ValueError(self.name)

    def project_path(self, root: Path) -> Path | None:
        """The project-scoped file this client reads in a workspace root (None: it has none)."""
        relative = {"claude-code": ".mcp.json", "cursor": ".cursor/mcp.json", "vscode": ".vscode/mcp.json"}
        name = relative.get(self.name)
        return None if name is None else root / name


CLIENTS: dict[str, ClientKind] = {
    "claude-desktop": ClientKind("claude-desktop", "Claude Desktop", "mcpServers", with_type=False),
    "claude-code": ClientKind("claude-code", "Claude Code", "mcpServers", with_type=True),
    "cursor": ClientKind("cursor", "Cursor", "mcpServers", with_type=False),
    "vscode": ClientKind("vscode", "VS Code", "servers", with_type=True),
}


def _needs_pythonpath() -> str | None:
    """The folder holding the tollhouse package when the interpreter would not find it by itself."""
    package_parent = Path(tollhouse.__file__).resolve().parent.parent
    for site in map(Path, sys.path[1:]):
        try:
            if site.resolve() == package_parent and "site-packages" in site.parts:
                return None
        except OSError:
            continue
    if any(part in ("site-packages", "dist-packages") for part in package_parent.parts):
        return None
    return str(package_parent)


def placed_config(config_path: Path) -> Path:
    """The config path an entry names: the folder resolved, not a symlinked file (the same place
    `tollhouse policy trust` recorded)."""
    return Path(os.path.realpath(config_path.parent)) / config_path.name


def server_entry(kind: ClientKind, config_path: Path, python: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if kind.with_type:
        entry["type"] = "stdio"
    entry["command"] = str(Path(python or sys.executable).absolute())
    # -P: `python -m` would put the client's working folder (often the workspace) first on sys.path,
    # so a `tollhouse/` or `anyio.py` an agent wrote there would run in place of the gate.
    placed = placed_config(config_path)
    entry["args"] = ["-P", "-m", "tollhouse", "--config", str(placed), "serve"]
    env: dict[str, str] = {}
    pythonpath = _needs_pythonpath()
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if os.environ.get("TOLLHOUSE_HOME") or os.environ.get("XDG_CONFIG_HOME"):
        # The server must find the trust records and keys this operator home holds, and a client
        # starting it may not pass the variables that chose it.
        from tollhouse.opdirs import operator_home

        env["TOLLHOUSE_HOME"] = str(operator_home())
    # In CI the client may not pass the job's variables on either: the signing key's *file* (never a
    # key itself), a trusted hash, and the run's identity (receipts/process.py) go into the entry.
    from tollhouse.receipts.process import ci_variables

    for name in ("TOLLHOUSE_SIGNING_KEY_FILE", "TOLLHOUSE_TRUST_POLICY"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(ci_variables())
    if env:
        entry["env"] = env
    return entry


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientConfigError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClientConfigError(
            f"{path} is not plain JSON ({exc.msg} at line {exc.lineno}); it was left untouched. "
            "Remove comments or trailing commas, or add the entry by hand (`tollhouse install ... --print`)"
        ) from exc
    if not isinstance(data, dict):
        raise ClientConfigError(f"{path} does not hold a JSON object; it was left untouched")
    return data


def find_entries(kind: ClientKind, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Entries that run tollhouse (by their args), keyed by entry name."""
    servers = data.get(kind.servers_key)
    if not isinstance(servers, dict):
        return {}
    found = {}
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            continue
        args = entry.get("args")
        if isinstance(args, list) and "tollhouse" in [str(a) for a in args] and "serve" in args:
            found[name] = entry
    return found


def entry_config(entry: dict[str, Any]) -> str | None:
    args = [str(a) for a in entry.get("args", [])]
    if "--config" in args:
        i = args.index("--config")
        return args[i + 1] if i + 1 < len(args) else None
    return None


def merge_entry(kind: ClientKind, data: dict[str, Any], name: str, entry: dict[str, Any]) -> dict[str, Any]:
    servers = data.get(kind.servers_key, {})
    if not isinstance(servers, dict):
        raise ClientConfigError(f'"{kind.servers_key}" is not a JSON object; the file was left untouched')
    merged = dict(data)
    merged[kind.servers_key] = {**servers, name: entry}
    return merged


def write_config(path: Path, data: dict[str, Any]) -> Path | None:
    """Write atomically, keeping the previous file as ``<name>.bak-<time>``; returns the backup path.

    A symlinked config (dotfiles kept in a repository) is written through: the link stays, its
    target gets the new text and the backup sits next to the target."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    mode = 0o600
    if path.exists():
        mode = path.stat().st_mode & 0o777
        backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}")
        n = 1
        while backup.exists():
            backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
            n += 1
        shutil.copy2(path, backup)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return backup
