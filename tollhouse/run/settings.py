"""``[run]`` in tollhouse.toml: which provider, model, credential profile and endpoint a run uses.

```toml
[run]
provider = "anthropic"         # default for `tollhouse run` without --provider
max_turns = 20                 # model requests per run
max_retries = 4                # per request, on 429 / 5xx / connection errors
max_retry_wait_s = 30          # the longest single wait, whatever retry-after asks

[run.anthropic]
model = "claude-sonnet-4-5"
credential = "anthropic:default"          # a [credentials."anthropic:default"] profile
base_url = "https://api.anthropic.com"    # another endpoint (a proxy, a loopback test server)
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

PROVIDERS = ("openai", "openai-responses", "anthropic", "gemini")
MODEL_PROVIDERS = ("openai", "anthropic", "gemini")
"""Credential profile providers (``<provider>:<name>``) that hold a model API key."""

DEFAULT_MODELS = {
    "openai": "gpt-4.1",
    "openai-responses": "gpt-4.1",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
}
DEFAULT_CREDENTIALS = {
    "openai": "openai:default",
    "openai-responses": "openai:default",
    "anthropic": "anthropic:default",
    "gemini": "gemini:default",
}
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "openai-responses": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
PROVIDER_KEYS = {"model", "credential", "base_url", "max_tokens"}


class RunSettingsError(ValueError):
    """A ``[run]`` table that cannot be used; the message names the key."""


@dataclass(frozen=True)
class RunSettings:
    provider: str
    model: str
    credential: str
    base_url: str
    max_turns: int = 20
    max_retries: int = 4
    max_retry_wait_s: float = 30.0
    max_tokens: int = 4096
    stream: bool = True


def _int(table: dict[str, Any], key: str, default: int, where: str, low: int = 0) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise RunSettingsError(f"{where}.{key} must be an integer >= {low}")
    return value


def load_run_settings(
    section: dict[str, Any],
    *,
    provider: str | None = None,
    model: str | None = None,
    stream: bool | None = None,
) -> RunSettings:
    """Settings for one run: command-line choices over ``[run]`` over the defaults."""
    if not isinstance(section, dict):
        raise RunSettingsError("[run] must be a table")
    chosen = provider or section.get("provider") or "openai"
    if chosen not in PROVIDERS:
        raise RunSettingsError(f"unknown provider {chosen!r}; choose one of {', '.join(PROVIDERS)}")
    table = section.get(chosen, {})
    if not isinstance(table, dict):
        raise RunSettingsError(f"[run.{chosen}] must be a table (model, credential, base_url, max_tokens)")
    for name in PROVIDERS:
        sub = section.get(name, {})
        unknown = sorted(set(sub) - PROVIDER_KEYS) if isinstance(sub, dict) else []
        if unknown:
            raise RunSettingsError(
                f"unknown key run.{name}.{unknown[0]}; known: {', '.join(sorted(PROVIDER_KEYS))}"
            )
    for key in ("model", "credential", "base_url"):
        if key in table and (not isinstance(table[key], str) or not table[key].strip()):
            raise RunSettingsError(f"run.{chosen}.{key} must be a non-empty string")
    base_url = table.get("base_url", DEFAULT_BASE_URLS[chosen])
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RunSettingsError(f"run.{chosen}.base_url must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        # An API key sent in clear text to another host: refused, not warned about.
        raise RunSettingsError(f"run.{chosen}.base_url: plain http is only allowed to a loopback address")
    wait = section.get("max_retry_wait_s", 30.0)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
        raise RunSettingsError("run.max_retry_wait_s must be a number >= 0")
    stream_setting = section.get("stream", True)
    if not isinstance(stream_setting, bool):
        raise RunSettingsError("run.stream must be true or false")
    return RunSettings(
        provider=chosen,
        model=model or table.get("model") or DEFAULT_MODELS[chosen],
        credential=table.get("credential", DEFAULT_CREDENTIALS[chosen]),
        base_url=base_url.rstrip("/"),
        max_turns=_int(section, "max_turns", 20, "run", low=1),
        max_retries=_int(section, "max_retries", 4, "run"),
        max_retry_wait_s=float(wait),
        max_tokens=_int(table, "max_tokens", 4096, f"run.{chosen}", low=1),
        stream=stream_setting if stream is None else stream,
    )
