"""`tollhouse serve`: the MCP server (stdio by default, Streamable HTTP with --http)."""

from __future__ import annotations

import argparse
import sys

from tollhouse.cli import exitcodes


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="serve the gated tools over MCP (stdio, or Streamable HTTP with --http)",
        description="Serve over MCP the tools policy could allow (narrowed further by --read-only and "
        "--families; any other tool is refused by name). Each call passes the policy gate and "
        "leaves a receipt. stdio is for clients that start the server themselves (Claude Desktop, "
        "Cursor, VS Code, Claude Code); --http serves Streamable HTTP for shared use: it binds "
        "127.0.0.1 unless told otherwise and requires a bearer token (see docs/http.md).",
    )
    p.add_argument(
        "--http",
        nargs="?",
        const="",
        metavar="HOST:PORT",
        help="serve Streamable HTTP instead of stdio (default address: [http] listen, else 127.0.0.1:8765; "
        "port 0 picks a free port and prints it)",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="serve only tools whose every effect is read (no write, exec or network tool is listed or run)",
    )
    p.add_argument(
        "--families",
        metavar="NAMES",
        help="serve only these tool families, comma-separated (files,memory); case resources need cases",
    )
    p.add_argument(
        "--root",
        metavar="DIR",
        help="serve DIR with no tollhouse.toml: the policy of --profile, generated in memory and "
        "trusted as such; nothing is written to DIR (receipts go to the operator's folder)",
    )
    p.add_argument(
        "--profile",
        choices=("readonly", "dev", "ci"),
        help="with --root (or alone, for the current folder): which built-in policy (default readonly)",
    )
    p.set_defaults(handler=run)


def _generated(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The config for ``--root DIR --profile P``: the profile's text, parsed in memory. The state
    (receipts, status files) lives in the operator's folder for DIR, so DIR stays as it was."""
    import dataclasses
    import os
    from pathlib import Path

    from tollhouse.cli.common import CommandError
    from tollhouse.config import CONFIG_NAME, ConfigError, parse_config
    from tollhouse.opdirs import ensure_private_dir, workspace_dir
    from tollhouse.profiles import render
    from tollhouse.workspace import BUILTIN_IMMUTABLE, Workspace

    if getattr(args, "config", None) or os.environ.get("TOLLHOUSE_CONFIG"):
        raise CommandError("--root/--profile serve a generated policy; drop --config (or $TOLLHOUSE_CONFIG)")
    root = Path(os.path.realpath(Path(args.root or ".").expanduser()))
    if not root.is_dir():
        raise CommandError(f"--root {args.root}: not a folder")
    if (root / CONFIG_NAME).exists():
        raise CommandError(
            f"{root / CONFIG_NAME} exists: serve it with `tollhouse serve --config {root / CONFIG_NAME}`, "
            "or pick a folder without one for --root/--profile"
        )
    # A person typed this command for this folder and profile: the text generated here is trusted
    # as it stands, like a policy they wrote and trusted; it is never written anywhere an agent edits.
    text = render(args.profile or "readonly")
    try:
        config = parse_config(text, root / CONFIG_NAME)
    except ConfigError as exc:
        raise CommandError(f"the {args.profile or 'readonly'} profile does not load here: {exc}") from exc
    ws = config.workspace
    state = ensure_private_dir(workspace_dir(root) / "state")
    workspace = Workspace(
        list(ws.roots), [g for g in ws.immutable_globs if g not in BUILTIN_IMMUTABLE],
        config_file=None, state_dir=state, secret_files=ws.secret_files,
    )  # fmt: skip
    return dataclasses.replace(config, path=None, workspace=workspace)


def _publish(args: argparse.Namespace, config):  # type: ignore[no-untyped-def]
    """The narrowing asked for; tools policy could never allow are hidden whatever is asked."""
    from tollhouse.config import ConfigError
    from tollhouse.gate.catalogue import Publish
    from tollhouse.tools import registry_for

    families = None
    if args.families is not None:
        families = frozenset(f.strip() for f in args.families.split(",") if f.strip())
        loaded = set(registry_for(config).families())
        unknown = sorted(families - loaded)
        if unknown or not families:
            raise ConfigError(
                f"--families {args.families!r}: not a family this config loads: "
                f"{', '.join(unknown) or '(none given)'}; it loads: {', '.join(sorted(loaded)) or '(none)'} "
                "([tools] families and modules)"
            )
    return Publish(read_only=args.read_only, families=families)


def run(args: argparse.Namespace) -> int:
    import anyio

    from tollhouse.cli.common import load_trusted
    from tollhouse.config import ConfigError

    if args.root is not None or args.profile is not None:
        config = _generated(args)
    else:
        # Refuses (exit 9) a policy whose hash a person has not trusted: nothing is served.
        config = load_trusted(args)
    try:
        publish = _publish(args, config)
        settings = None
        if args.http is not None:
            from tollhouse.server.http_auth import load_http_settings

            settings = load_http_settings(config, args.http or None)
    except ConfigError as exc:
        print(f"tollhouse serve: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    from tollhouse.server import runner

    try:
        if settings is None:
            anyio.run(runner.serve_stdio, config, publish)
        else:
            anyio.run(runner.serve_http, config, settings, publish)
    except ConfigError as exc:
        print(f"tollhouse serve: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except OSError as exc:
        print(f"tollhouse serve: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except Exception as exc:
        name = type(exc).__name__
        if name in ("PolicyError",):
            print(f"tollhouse serve: policy did not load, nothing served: {exc}", file=sys.stderr)
            return exitcodes.USAGE
        if name in ("ReceiptStoreError",):
            print(f"tollhouse serve: receipts store unusable, nothing served: {exc}", file=sys.stderr)
            return exitcodes.STORE_UNUSABLE
        raise
    return exitcodes.OK
