"""``[[upstreams]]`` in tollhouse.toml: other MCP servers whose tools tollhouse publishes behind its gate.

An upstream is a name plus either a stdio ``command`` (an argv list, run in ``cwd`` with an environment
built only from the table's ``env``, whose values may name credential profiles) or a Streamable HTTP
``url`` (``headers`` built the same way). Nothing of tollhouse's own environment reaches an upstream
beyond the MCP SDK's short list (HOME, LOGNAME, PATH, SHELL, TERM, USER): a secret tollhouse holds
stays with tollhouse unless the operator hands it over by name.

A value in ``env`` or ``headers`` is literal text in which ``{profile:id}`` is replaced by that
credential profile's secret when the upstream starts (``"Bearer {linear:default}"``); the secret is
registered with the redactor, so an upstream that echoes it back is redacted like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tollhouse.config import Config, ConfigError

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")
"""An upstream's name prefixes each of its tools (``fs_read_file``): short, lower-case, no ``_``
(so the prefix is unambiguous)."""

PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.-]{1,64})\}")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

KEYS = {
    "name",
    "command",
    "cwd",
    "env",
    "url",
    "headers",
    "timeout_s",
    "start_timeout_s",
    "paths",
    "urls",
    "description",
    "relay",
}
FACET_TABLES = ("paths", "urls")
RELAYABLE = ("elicitation", "sampling")


@dataclass(frozen=True)
class UpstreamSpec:
    name: str
    command: tuple[str, ...] = ()
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0
    """The longest one call may take; past it the upstream is stopped (its whole process group)."""
    start_timeout_s: float = 30.0
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Upstream tool name -> argument names holding file paths (policy resolves them in the roots)."""
    urls: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Upstream tool name -> argument names holding URLs (policy's ``domains`` sees their hosts)."""
    description: str = ""
    relay: tuple[str, ...] = ()
    """Requests of the upstream passed on to the client of the call: ``elicitation``, ``sampling``.
    Nothing unless listed: tollhouse then does not declare those capabilities to the upstream."""

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def profiles(self) -> list[str]:
        """Every credential profile id the upstream's env or headers name."""
        found: list[str] = []
        for value in [*self.env.values(), *self.headers.values()]:
            found.extend(PLACEHOLDER_RE.findall(value))
        return list(dict.fromkeys(found))

    def identity(self) -> dict[str, Any]:
        """What the operator's pins are bound to: how the upstream is reached (never secret values)."""
        return {
            "name": self.name,
            "command": list(self.command),
            "url": self.url,
        }


def _fail(config: Config, message: str) -> ConfigError:
    return ConfigError(message, file=config.path, line=config.line_of("upstreams"))


def _str_map(config: Config, where: str, value: Any, *, env_names: bool) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _fail(config, f"{where} must be a table of strings")
    for key, text in value.items():
        if env_names and not ENV_NAME_RE.match(key):
            raise _fail(config, f"{where}: {key!r} is not an environment variable name")
        if not env_names and not re.match(r"^[A-Za-z0-9-]{1,64}$", key):
            raise _fail(config, f"{where}: {key!r} is not an HTTP header name")
        if "\x00" in text or "\n" in text or "\r" in text:
            raise _fail(config, f"{where}.{key} may not hold NUL or line breaks")
        stray = PLACEHOLDER_RE.sub("", text)
        if re.search(r"\{[^{}]*:[^{}]*\}", stray):
            raise _fail(config, f"{where}.{key}: a placeholder must name a profile like {{vendor:default}}")
    return dict(value)


def _facets(config: Config, where: str, value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise _fail(config, f"{where} must be a table: upstream tool name = [argument names]")
    out: dict[str, tuple[str, ...]] = {}
    for tool, names in value.items():
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise _fail(config, f"{where}.{tool} must be a non-empty list of argument names")
        out[str(tool)] = tuple(names)
    return out


def parse_upstreams(config: Config) -> list[UpstreamSpec]:
    """The config's upstreams, checked; a ``ConfigError`` naming the upstream for the first bad one."""
    raw = config.data.get("upstreams", [])
    if not isinstance(raw, list):
        raise _fail(config, "upstreams must be an array of tables ([[upstreams]])")
    specs: list[UpstreamSpec] = []
    seen: set[str] = set()
    for index, table in enumerate(raw):
        if not isinstance(table, dict):
            raise _fail(config, f"upstreams #{index + 1} must be a table")
        name = table.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _fail(
                config,
                f"upstreams #{index + 1}: name {name!r} must be 1-16 lower-case letters or digits, starting "
                "with a letter (it prefixes every tool: name_tool)",
            )
        where = f"upstream {name}"
        unknown = sorted(set(table) - KEYS)
        if unknown:
            raise _fail(config, f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(KEYS))}")
        if name in seen:
            raise _fail(config, f"{where}: two upstreams have this name")
        seen.add(name)
        command, url = table.get("command"), table.get("url")
        if (command is None) == (url is None):
            raise _fail(config, f"{where}: give either command (stdio) or url (Streamable HTTP), not both")
        argv: tuple[str, ...] = ()
        if command is not None:
            if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
                raise _fail(config, f'{where}: command must be an argv list, like ["node", "server.js"]')
            if any("\x00" in a for a in command) or not command[0]:
                raise _fail(config, f"{where}: command may not hold NUL or an empty program name")
            argv = tuple(command)
            if "headers" in table:
                raise _fail(config, f"{where}: headers are for a url upstream; a command upstream takes env")
        else:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise _fail(config, f"{where}: url must be an http:// or https:// address")
            if parts.username or parts.password:
                raise _fail(config, f"{where}: url may not hold credentials; use headers with a profile")
            for key in ("env", "cwd"):
                if key in table:
                    raise _fail(config, f"{where}: {key} is for a command upstream")
        cwd = None
        if "cwd" in table:
            if not isinstance(table["cwd"], str) or not table["cwd"]:
                raise _fail(config, f"{where}: cwd must be a folder name")
            cwd = Path(table["cwd"]).expanduser()
            cwd = cwd if cwd.is_absolute() else config.root / cwd
        timeouts = {}
        for key in ("timeout_s", "start_timeout_s"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
                    raise _fail(config, f"{where}: {key} must be a number of seconds in (0, 3600]")
                timeouts[key] = float(value)
        description = table.get("description", "")
        if not isinstance(description, str):
            raise _fail(config, f"{where}: description must be a string")
        relay = table.get("relay", [])
        if not isinstance(relay, list) or not all(isinstance(r, str) and r in RELAYABLE for r in relay):
            raise _fail(config, f"{where}: relay must be a list of {', '.join(repr(r) for r in RELAYABLE)}")
        specs.append(
            UpstreamSpec(
                name=name,
                command=argv,
                cwd=cwd,
                env=_str_map(config, f"{where}: env", table.get("env", {}), env_names=True),
                url=url if isinstance(url, str) else None,
                headers=_str_map(config, f"{where}: headers", table.get("headers", {}), env_names=False),
                paths=_facets(config, f"{where}: paths", table.get("paths", {})),
                urls=_facets(config, f"{where}: urls", table.get("urls", {})),
                description=description,
                relay=tuple(dict.fromkeys(relay)),
                **timeouts,
            )
        )
    return specs


def check_config(config: Config) -> None:
    """The config hook: a bad ``[[upstreams]]`` table fails the load like any other section."""
    parse_upstreams(config)
