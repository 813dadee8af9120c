"""`tollhouse install CLIENT`: add or update a tollhouse entry in an MCP client's config file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tollhouse.cli import exitcodes

CLIENT_NAMES = ("claude-desktop", "claude-code", "cursor", "vscode")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "install",
        help="add tollhouse to an MCP client's config (Claude Desktop, Claude Code, Cursor, VS Code)",
        description="Add or update a server entry that runs `tollhouse serve` for this workspace, using "
        "this Python's absolute path and this workspace's tollhouse.toml. Every other entry in the file "
        "is kept, and the previous file is saved next to it as <file>.bak-<time>.",
    )
    p.add_argument("client", choices=CLIENT_NAMES, help="which client to configure")
    p.add_argument(
        "--config-file", metavar="FILE", help="the client's config file (default: its standard location)"
    )
    p.add_argument("--name", default="tollhouse", help="the entry's name in the client (default: tollhouse)")
    p.add_argument("--print", dest="print_only", action="store_true", help="print the entry; change nothing")
    p.add_argument(
        "--wrap-existing", action="store_true",
        help="move the client's other MCP servers behind tollhouse as [[upstreams]] (see docs/upstreams.md)",
    )  # fmt: skip
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tollhouse.cli.common import CommandError, fail, load
    from tollhouse.server.clients import (
        CLIENTS,
        ClientConfigError,
        merge_entry,
        read_config,
        server_entry,
        write_config,
    )

    try:
        config = load(args)
    except CommandError as exc:
        return fail(str(exc), exc.code)
    if config.path is None:
        return fail("this workspace has no tollhouse.toml; run `tollhouse init` first")
    kind = CLIENTS[args.client]
    entry = server_entry(kind, config.path)
    if args.print_only:
        json.dump({kind.servers_key: {args.name: entry}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return exitcodes.OK
    path = Path(args.config_file).expanduser() if args.config_file else kind.default_path()
    try:
        data = read_config(path)
        merged = merge_entry(kind, _wrapped(args, kind, data, config), args.name, entry)
        if merged == data:
            print(f"{kind.label}: {path} already has this {args.name!r} entry; nothing changed")
            return exitcodes.OK
        backup = write_config(path, merged)
    except ClientConfigError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"could not write {path}: {exc}")
    verb = "updated" if args.name in (data.get(kind.servers_key) or {}) else "added"
    print(f"{kind.label}: {verb} the {args.name!r} server in {path}")
    if backup is not None:
        print(f"previous file kept as {backup}")
    print(f"restart {kind.label} to pick it up; `tollhouse doctor` shows what is installed")
    return exitcodes.OK


def _wrapped(args: argparse.Namespace, kind: object, data: dict, config: object) -> dict:  # type: ignore[type-arg]
    if not getattr(args, "wrap_existing", False):
        return data
    from tollhouse.upstreams.wrap import wrap_cli

    return wrap_cli(kind, data, config, args.name)  # type: ignore[arg-type]
