"""The ``[github]`` table of tollhouse.toml, checked, with defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tollhouse.tools.base import ToolError

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_PROFILE = "github:default"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class GitHubSettings:
    api_url: str = DEFAULT_API_URL
    credential: str = DEFAULT_PROFILE
    pin_after_private_read: bool = True
    pin_ttl_s: float = 86400.0
    """How long a private read on the workspace pins writes of every session (0: session pins only)."""
    timeout_s: float = 30.0
    max_retries: int = 3
    max_wait_s: float = 60.0
    """Longest single wait for a rate limit or backoff; a longer reset gives up with a clear error."""
    backoff_s: float = 1.0
    """First wait after a 5xx or network error; doubled each retry."""
    max_pages: int = 10
    """Most pages one tool call follows through Link headers (files of a pull request, say)."""


def check_api_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ToolError(f"github api_url {url!r} must be an http(s) URL such as {DEFAULT_API_URL}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        # A token over plain HTTP to another machine can be read on the wire.
        raise ToolError(
            f"github api_url {url!r} uses plain http; use https (http is accepted only for loopback)"
        )
    if parts.query or parts.fragment:
        raise ToolError(f"github api_url {url!r} must not have a query or fragment")
    return url.rstrip("/")


def _num(table: dict[str, Any], key: str, default: float, *, minimum: float = 0) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ToolError(f"config github.{key} must be a number >= {minimum:g} (got {value!r})")
    return float(value)


def load_settings(config: Any) -> GitHubSettings:
    table: dict[str, Any] = config.section("github") if config is not None else {}
    api_url = table.get("api_url") or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    if not isinstance(api_url, str):
        raise ToolError("config github.api_url must be a string URL")
    credential = table.get("credential", DEFAULT_PROFILE)
    if not isinstance(credential, str) or not credential.startswith("github:"):
        raise ToolError("config github.credential must name a github:<name> credential profile")
    pin = table.get("pin_after_private_read", True)
    if not isinstance(pin, bool):
        raise ToolError("config github.pin_after_private_read must be true or false")
    return GitHubSettings(
        api_url=check_api_url(api_url),
        credential=credential,
        pin_after_private_read=pin,
        pin_ttl_s=_num(table, "pin_ttl_s", 86400.0),
        timeout_s=_num(table, "timeout_s", 30.0, minimum=0.1),
        max_retries=int(_num(table, "max_retries", 3)),
        max_wait_s=_num(table, "max_wait_s", 60.0),
        backoff_s=_num(table, "backoff_s", 1.0),
        max_pages=int(_num(table, "max_pages", 10, minimum=1)),
    )
