"""``tollhouse auth list|status|test``: credential profiles, shown by source, never by value."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from tollhouse.cli import exitcodes
from tollhouse.config import ConfigError, load_config
from tollhouse.identity import CredentialResolver, build_resolver
from tollhouse.tools.base import ToolError


class _Scrubber:
    """Remembers every secret read in this process and removes it from anything printed."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add_secret(self, value: str) -> None:
        self.secrets.add(value)

    def redact_text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]")
        return text


def register(sub: Any) -> None:
    auth = sub.add_parser(
        "auth",
        help="credential profiles: list, status, test",
        description="Credential profiles map ids such as github:default to where the secret lives "
        "(env:NAME, file:PATH, command:...). These commands never print a secret.",
    )
    actions = auth.add_subparsers(dest="auth_command", metavar="ACTION")
    for name, help_text in (
        ("list", "list profiles and their sources (reads no secret)"),
        ("status", "read each profile's secret locally and say whether it resolves"),
        ("test", "resolve a profile and call its service: GitHub GET /user, a model provider's models list"),
    ):
        p = actions.add_parser(name, help=help_text, description=help_text)
        if name == "test":
            p.add_argument("profile", nargs="?", help="profile id (default: the [github] credential)")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=_handle, auth_action=name)
    auth.set_defaults(handler=lambda args: (auth.print_help(), exitcodes.USAGE)[1])


def _handle(args: argparse.Namespace) -> int:
    scrub = _Scrubber()
    try:
        config = load_config(getattr(args, "config", None))
        resolver = build_resolver(config, scrub)
    except ConfigError as exc:
        print(f"tollhouse auth: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    if args.auth_action == "list":
        rows = [_describe(resolver, pid) for pid in sorted(resolver.profiles)]
        code = exitcodes.OK
    elif args.auth_action == "status":
        rows = anyio.run(_status, resolver)
        code = exitcodes.OK if all(r["ok"] for r in rows) else exitcodes.TOOL_ERROR
    else:
        profile = args.profile or _github_profile(config)
        if profile not in resolver.profiles:
            known = ", ".join(sorted(resolver.profiles))
            print(f"tollhouse auth: no credential profile {profile!r} (known: {known})", file=sys.stderr)
            return exitcodes.USAGE
        rows = [anyio.run(_test, resolver, config, profile)]
        code = exitcodes.OK if rows[0]["ok"] else exitcodes.TOOL_ERROR
    out = json.dumps(rows, indent=2) if args.json else "\n".join(_line(r) for r in rows)
    print(scrub.redact_text(out))
    return code


def _github_profile(config: Any) -> str:
    value = config.section("github").get("credential", "github:default")
    return value if isinstance(value, str) else "github:default"


def _describe(resolver: CredentialResolver, pid: str) -> dict[str, Any]:
    p = resolver.profiles[pid]
    return {"id": pid, "provider": p.provider, "source": p.source, "builtin": p.builtin, "ttl_s": p.ttl_s}


def _line(row: dict[str, Any]) -> str:
    text = f"{row['id']:<24} {row['source']}"
    if row.get("builtin"):
        text += "  (built-in default)"
    if "ok" in row:
        text += "  ok" if row["ok"] else f"  FAILED: {row['error']}"
    if row.get("login"):
        text += f"  (GitHub user {row['login']}, scopes: {row.get('scopes') or 'n/a'})"
    if row.get("model_ids") is not None:
        text += f"  ({row['models']} models at {row['api_url']})"
    return text


async def _status(resolver: CredentialResolver) -> list[dict[str, Any]]:
    rows = []
    for pid in sorted(resolver.profiles):
        row = _describe(resolver, pid)
        try:
            await resolver.resolve(pid)
            row.update(ok=True, error=None)
        except ToolError as exc:
            row.update(ok=False, error=str(exc))
        rows.append(row)
    return rows


async def _test(resolver: CredentialResolver, config: Any, pid: str) -> dict[str, Any]:
    from tollhouse.run.settings import MODEL_PROVIDERS
    from tollhouse.tools.github.client import GitHubClient
    from tollhouse.tools.github.settings import load_settings

    row = _describe(resolver, pid)
    try:
        token = await resolver.resolve(pid)
        if resolver.profiles[pid].provider == "github":
            settings = load_settings(config)
            async with GitHubClient(settings, token, profile_id=pid) as gh:
                resp = await gh.request("GET", "/user")
            row.update(
                login=resp.json().get("login"),
                scopes=resp.headers.get("x-oauth-scopes"),
                rate_remaining=resp.headers.get("x-ratelimit-remaining"),
                api_url=settings.api_url,
            )
        elif resolver.profiles[pid].provider in MODEL_PROVIDERS:
            from tollhouse.run.auth import check_model_profile

            row.update(await check_model_profile(config, resolver, pid))  # lists the models ([run])
        row.update(ok=True, error=None)
    except ToolError as exc:
        row.update(ok=False, error=str(exc))
    except Exception as exc:  # a provider SDK's error (401, unreachable): reported, never raised
        row.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    return row
