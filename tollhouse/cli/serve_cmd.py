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
    p.set_defaults(handler=run)


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
