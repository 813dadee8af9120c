"""``tollhouse login``, ``whoami``, ``logout``: the operator as a person from the identity provider."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, load_trusted, print_json

LOGIN_HELP = """\
Sign in to the identity provider named by [oauth] issuer with the device authorization grant
(RFC 8628): open the printed URL on any browser and enter the code. From then on the receipts of
`tollhouse call` and `tollhouse serve` (stdio) for configs naming that issuer name you (the token's
principal_claim, default sub) and your groups, and policy `principals` rules match them.

The tokens are kept in the operator home (<TOLLHOUSE_HOME>/logins.json, mode 0600), never in a
workspace; the access token is refreshed with the refresh token when it expires.

examples:
  tollhouse login
  tollhouse whoami --json
  tollhouse logout
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "login",
        help="sign in to the [oauth] issuer (device code); receipts then name you",
        description=LOGIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run_login)
    w = sub.add_parser(
        "whoami",
        help="the operator receipts would name now, and where it comes from",
        description="The operator the gate names in receipts and matches in policy principals: the "
        "subject of `tollhouse login` for this config's issuer (refreshed if it expired), else "
        "[identity] operator, else local:user@host.",
    )
    w.add_argument("--json", action="store_true", help="print JSON")
    w.set_defaults(handler=run_whoami)
    o = sub.add_parser(
        "logout",
        help="forget the login for this config's issuer (--all: every login)",
        description="Remove the stored tokens (and ask the issuer to revoke the refresh token when it "
        "offers revocation). Receipts name the local operator again.",
    )
    o.add_argument("--all", action="store_true", help="forget every stored login, whatever the config")
    o.set_defaults(handler=run_logout)


def _settings(args: argparse.Namespace) -> Any:
    from tollhouse.config import ConfigError
    from tollhouse.server.oauth_config import load_oauth

    config = load_trusted(args)  # the issuer a person signs in at comes from a trusted file only
    try:
        settings = load_oauth(config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    if settings is None:
        raise CommandError(
            f'{config.path or "the config"} has no [oauth] table; add [oauth] issuer = "https://..." '
            "(docs/identity.md)"
        )
    return config, settings


def run_login(args: argparse.Namespace) -> int:
    from tollhouse.principal_login import LoginError, login

    _, settings = _settings(args)

    def show(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        record = anyio.run(login, settings, show)
    except LoginError as exc:
        print(f"tollhouse login: {exc}", file=sys.stderr)
        return exitcodes.TOOL_ERROR
    summary = _summary(record, "login")
    if args.json:
        print_json(summary)
    else:
        groups = f" (groups: {', '.join(summary['groups'])})" if summary["groups"] else ""
        print(f"logged in as {summary['operator']}{groups} at {summary['issuer']}")
    return exitcodes.OK


def _summary(record: dict[str, Any] | None, source: str, operator: str | None = None) -> dict[str, Any]:
    if record is None:
        return {"operator": operator, "groups": [], "source": source, "issuer": None, "expires_at": None}
    return {
        "operator": record["principal"],
        "groups": list(record.get("groups") or []),
        "source": source,
        "issuer": record["issuer"],
        "client_id": record["client_id"],
        "expires_at": record.get("expires_at"),
    }


def run_whoami(args: argparse.Namespace) -> int:
    from tollhouse.config import ConfigError
    from tollhouse.principal import local_operator
    from tollhouse.principal_login import LoginError, current_login
    from tollhouse.server.oauth_config import load_oauth

    config = load_trusted(args)
    try:
        settings = load_oauth(config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    record = None
    if settings is not None:
        try:
            record = anyio.run(current_login, settings)
        except LoginError as exc:
            print(f"tollhouse whoami: the login ended: {exc}", file=sys.stderr)
    if record is not None:
        summary = _summary(record, "login")
    elif config.operator:
        summary = _summary(None, "config", config.operator)
    else:
        summary = _summary(None, "local", local_operator())
    if args.json:
        print_json(summary)
        return exitcodes.OK
    groups = f" (groups: {', '.join(summary['groups'])})" if summary["groups"] else ""
    where = {
        "login": f"signed in at {summary['issuer']}",
        "config": "[identity] operator",
        "local": "the local user; `tollhouse login` to sign in" if settings else "the local user",
    }[summary["source"]]
    print(f"{summary['operator']}{groups} ({where})")
    if summary.get("expires_at"):
        left = int(summary["expires_at"] - time.time())
        print(f"access token valid for {max(left, 0)} s; refreshed when it expires")
    return exitcodes.OK


def run_logout(args: argparse.Namespace) -> int:
    from tollhouse.principal_login import LoginError, forget, read_logins, revoke

    if args.all:
        try:
            records = list(read_logins().values())
        except LoginError:
            records = []
        for record in records:
            anyio.run(revoke, record)
        removed = forget(None)
        print("forgot every login" if removed else "no login was stored")
        return exitcodes.OK
    _, settings = _settings(args)
    try:
        record = read_logins().get(f"{settings.issuer} {settings.client_id}")
    except LoginError as exc:
        raise CommandError(str(exc)) from exc
    if record is None:
        print(f"not logged in at {settings.issuer}")
        return exitcodes.OK
    anyio.run(revoke, record)
    forget(settings)
    print(f"logged out of {settings.issuer} ({record['principal']})")
    return exitcodes.OK
