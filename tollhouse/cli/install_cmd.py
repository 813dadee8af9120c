"""`tollhouse install CLIENT` / `tollhouse uninstall CLIENT`: add, update or remove this workspace's
entry in an MCP client's config file.

Project scope by default where the client reads one (Claude Code ``.mcp.json``, Cursor
``.cursor/mcp.json``, VS Code ``.vscode/mcp.json``, in the workspace root), user scope with
``--scope user``. An entry of the same name that serves another workspace, or is not tollhouse at all,
is never repointed silently (``--force``). A symlinked config is written through: the link stays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes

CLIENT_NAMES = ("claude-desktop", "claude-code", "cursor", "vscode")

INSTALL_HELP = """\
Add or update an entry that runs `tollhouse serve` for this workspace, with this Python's absolute
path and this workspace's tollhouse.toml. Every other entry and key in the file is kept, and the
previous file is saved next to it as <file>.bak-<time>.

Where: the project file in the workspace root where the client has one (Claude Code .mcp.json,
Cursor .cursor/mcp.json, VS Code .vscode/mcp.json); the user file with --scope user (Claude Desktop
has only that). An entry of the same name that serves another workspace, or runs something else, is
not replaced unless you pass --force (or pick another --name). A config file that is a symlink is
written through: the link stays and its target changes.

examples:
  tollhouse install claude-code                 # ./.mcp.json
  tollhouse install cursor --scope user         # ~/.cursor/mcp.json
  tollhouse install vscode --print              # show the entry, change nothing
  tollhouse install claude-desktop --name tollhouse-app
"""

UNINSTALL_HELP = """\
Remove this workspace's tollhouse entry (by --name, default tollhouse) from a client's config and
nothing else; the previous file is kept as <file>.bak-<time>. An entry of that name that serves
another workspace, or runs something else, is left alone unless you pass --force.

examples:
  tollhouse uninstall claude-code
  tollhouse uninstall cursor --scope user
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("client", choices=CLIENT_NAMES, help="which client")
    p.add_argument(
        "--scope", choices=("project", "user"),
        help="project (the workspace's file; the default where the client has one) or user",
    )  # fmt: skip
    p.add_argument("--config-file", metavar="FILE", help="this file instead of the client's own")
    p.add_argument("--name", default="tollhouse", help="the entry's name in the client (default: tollhouse)")
    p.add_argument(
        "--force", action="store_true",
        help="replace or remove an entry of this name that serves another workspace or runs something else",
    )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "install",
        help="add tollhouse to an MCP client's config (Claude Desktop, Claude Code, Cursor, VS Code)",
        description=INSTALL_HELP,
        formatter_class=fmt,
    )
    _common(p)
    p.add_argument("--print", dest="print_only", action="store_true", help="print the entry; change nothing")
    p.add_argument(
        "--wrap-existing", action="store_true",
        help="move the client's other MCP servers behind tollhouse as [[upstreams]] (see docs/upstreams.md)",
    )  # fmt: skip
    p.set_defaults(handler=run)
    u = sub.add_parser(
        "uninstall", help="remove this workspace's tollhouse entry from an MCP client's config",
        description=UNINSTALL_HELP, formatter_class=fmt,
    )  # fmt: skip
    _common(u)
    u.set_defaults(handler=run_uninstall)


def _target(args: argparse.Namespace, kind: Any, root: Path) -> Path | str:
    """The file to edit, or a message saying why there is none."""
    if args.config_file:
        return Path(args.config_file).expanduser()
    project = kind.project_path(root)
    if args.scope == "project" and project is None:
        return f"{kind.label} has no project config; use --scope user"
    if args.scope == "user" or project is None:
        return kind.default_path()
    return project


def _owner(entry: Any, placed: str) -> str | None:
    """Why an existing entry is not this workspace's (None: it is)."""
    from tollhouse.server.clients import entry_config

    if not isinstance(entry, dict) or not isinstance(entry.get("args"), list):
        return "it is not a tollhouse entry"
    if "tollhouse" not in [str(a) for a in entry["args"]] or "serve" not in entry["args"]:
        return f"it runs {entry.get('command')!r}, not tollhouse"
    config = entry_config(entry)
    if config != placed:
        return f"it serves another workspace ({config or 'no --config'})"
    return None


def _prepare(args: argparse.Namespace) -> tuple[Any, Path, str, Any] | int:
    from tollhouse.cli.common import CommandError, fail, load
    from tollhouse.server.clients import CLIENTS, placed_config

    try:
        config = load(args)
    except CommandError as exc:
        return fail(str(exc), exc.code)
    if config.path is None:
        return fail("this workspace has no tollhouse.toml; run `tollhouse init` first")
    kind = CLIENTS[args.client]
    path = _target(args, kind, Path(config.path).parent)
    if isinstance(path, str):
        return fail(path)
    return kind, path, str(placed_config(config.path)), config


def run(args: argparse.Namespace) -> int:
    from tollhouse.cli.common import fail
    from tollhouse.server.clients import (
        ClientConfigError,
        merge_entry,
        read_config,
        server_entry,
        write_config,
    )

    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    kind, path, placed, config = prepared
    entry = server_entry(kind, config.path)
    if args.print_only:
        json.dump({kind.servers_key: {args.name: entry}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return exitcodes.OK
    try:
        data = read_config(path)
        known = data.get(kind.servers_key)
        current = known.get(args.name) if isinstance(known, dict) else None  # not a dict: merge refuses
        why = None if current is None else _owner(current, placed)
        if why and not args.force:
            return fail(
                f"{path} already has an entry {args.name!r} and {why}; nothing changed. Pass --force to "
                f"replace it, or --name to add this workspace under another name"
            )
        merged = merge_entry(kind, _wrapped(args, kind, data, config), args.name, entry)
        if merged == data:
            print(f"{kind.label}: {path} already has this {args.name!r} entry; nothing changed")
            return exitcodes.OK
        backup = write_config(path, merged)
    except ClientConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"could not write {path}: {exc}")
    verb = "replaced" if why else ("updated" if current is not None else "added")
    print(f"{kind.label}: {verb} the {args.name!r} server in {path}")
    if backup is not None:
        print(f"previous file kept as {backup}")
    print(f"restart {kind.label} to pick it up; `tollhouse doctor` shows what is installed")
    return exitcodes.OK


def run_uninstall(args: argparse.Namespace) -> int:
    from tollhouse.cli.common import fail
    from tollhouse.server.clients import ClientConfigError, read_config, write_config

    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    kind, path, placed, _ = prepared
    try:
        data = read_config(path)
        servers = data.get(kind.servers_key)
        if not isinstance(servers, dict) or args.name not in servers:
            print(f"{kind.label}: {path} has no {args.name!r} entry; nothing changed")
            return exitcodes.OK
        why = _owner(servers[args.name], placed)
        if why and not args.force:
            return fail(
                f"the {args.name!r} entry in {path} is not this workspace's: {why}; nothing changed. "
                "Pass --force to remove it anyway"
            )
        kept = {n: e for n, e in servers.items() if n != args.name}
        backup = write_config(path, {**data, kind.servers_key: kept})
    except ClientConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"could not write {path}: {exc}")
    print(f"{kind.label}: removed the {args.name!r} server from {path}")
    if backup is not None:
        print(f"previous file kept as {backup}")
    return exitcodes.OK


def _wrapped(args: argparse.Namespace, kind: object, data: dict, config: object) -> dict:  # type: ignore[type-arg]
    if not getattr(args, "wrap_existing", False):
        return data
    from tollhouse.upstreams.wrap import wrap_cli

    return wrap_cli(kind, data, config, args.name)  # type: ignore[arg-type]
