"""The operational `[http]` keys of `serve --http`: resumability, replicas, health, metrics, tracing,
shutdown. (Listening, tokens and OAuth are read by ``http_auth``.)

```toml
[http]
event_store = "sqlite"          # "sqlite" (default: <state>/http-events.db), "memory" or "off"
sealing_key_file = "~/.config/tollhouse/team-sealing-key"   # or env TOLLHOUSE_SEALING_KEY
metrics = true                  # GET /metrics (Prometheus text format)
otlp_endpoint = "http://collector:4318/v1/traces"           # or env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
shutdown_grace_s = 10           # SIGTERM: how long in-flight calls may finish before they are cancelled
```

The sealing key file holds one or more keys, one per line, each 64 hex digits (32 random bytes); the
first seals, every one unseals (rotation: add the new key second, then move it first, then drop the
old one after `approvals.ttl_s`). Like the bearer token it is a secret: never inside the workspace,
refused when others can read it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tollhouse.config import Config, ConfigError

SEALING_KEY_ENV = "TOLLHOUSE_SEALING_KEY"
OTLP_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
EVENT_STORES = ("sqlite", "memory", "off")
OPS_KEYS = {"event_store", "sealing_key_file", "metrics", "otlp_endpoint", "shutdown_grace_s"}


@dataclass
class HttpOptions:
    event_store: str = "sqlite"
    sealing_keys: list[bytes] | None = None
    """None: a key held only by this process (approvals cannot move between replicas)."""
    sealing_source: str = "process"
    metrics: bool = True
    otlp_endpoint: str | None = None
    shutdown_grace_s: float = 10.0


def load_http_options(config: Config) -> HttpOptions:
    section = config.section("http")
    store = section.get("event_store", "sqlite")
    if store not in EVENT_STORES:
        raise ConfigError(
            f"http.event_store must be one of {', '.join(EVENT_STORES)}, not {store!r}", file=config.path
        )
    metrics = section.get("metrics", True)
    if not isinstance(metrics, bool):
        raise ConfigError(f"http.metrics must be true or false, not {metrics!r}", file=config.path)
    grace = section.get("shutdown_grace_s", 10.0)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 3600:
        raise ConfigError(
            f"http.shutdown_grace_s must be a number of seconds from 0 to 3600, not {grace!r}",
            file=config.path,
        )
    endpoint = section.get("otlp_endpoint") or os.environ.get(OTLP_ENV) or None
    if endpoint is not None and not str(endpoint).startswith(("http://", "https://")):
        raise ConfigError(
            f"http.otlp_endpoint must be an http:// or https:// URL (OTLP/HTTP), not {endpoint!r}",
            file=config.path,
        )
    keys, source = sealing_keys(config)
    return HttpOptions(
        event_store=str(store),
        sealing_keys=keys,
        sealing_source=source,
        metrics=metrics,
        otlp_endpoint=str(endpoint) if endpoint else None,
        shutdown_grace_s=float(grace),
    )


def parse_keys(text: str, where: str) -> list[bytes]:
    keys = []
    for i, raw in enumerate(t.strip() for t in text.replace(",", "\n").splitlines()):
        if not raw or raw.startswith("#"):
            continue
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError(
                f"{where}: key {i + 1} is not 64 hex digits (32 random bytes); make one with "
                '`python -c "import secrets; print(secrets.token_hex(32))"`'
            )
        keys.append(key)
    if not keys:
        raise ConfigError(f"{where} holds no key")
    return keys


def sealing_keys(config: Config) -> tuple[list[bytes] | None, str]:
    """The approval sealing key ring: ``$TOLLHOUSE_SEALING_KEY``, else ``[http] sealing_key_file``."""
    env = os.environ.get(SEALING_KEY_ENV)
    if env:
        return parse_keys(env, f"${SEALING_KEY_ENV}"), f"${SEALING_KEY_ENV}"
    named = config.section("http").get("sealing_key_file")
    if not named:
        return None, "process"
    path = Path(os.path.expanduser(str(named)))
    path = path if path.is_absolute() else config.root / path
    real = Path(os.path.realpath(path))
    for place in (*config.workspace.roots, config.state_dir.parent):
        inside = Path(os.path.realpath(place))
        if real == inside or inside in real.parents:
            raise ConfigError(
                f"http.sealing_key_file {named!r} lies inside {inside}, where tools can read it; keep the "
                "key outside the workspace",
                file=config.path,
            )
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"http.sealing_key_file: cannot read {path}: {exc.strerror}", file=config.path
        ) from exc
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`", file=config.path
        )
    return parse_keys(text, str(path)), str(path)
