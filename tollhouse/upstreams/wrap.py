"""``tollhouse install CLIENT --wrap-existing``: move a client's other MCP servers behind tollhouse.

Each server entry in the client's config (other than tollhouse's own) becomes an ``[[upstreams]]``
table in tollhouse.toml and leaves the client's file (which keeps a backup). A secret the entry held
in its ``env`` or ``headers`` is not copied into tollhouse.toml (a file meant to be committed): it is
written to a file readable by the operator alone, in the operator's home, and named by a credential
profile. Each server is started once to read its tools, and a policy is generated from their
annotations: tools that say ``readOnlyHint: true`` are allowed, every other tool asks a person. A
server that cannot be started gets one rule that asks for all its tools. Nothing is published until
the operator trusts the changed config (``tollhouse policy trust``) and each upstream's tools
(``tollhouse upstream trust NAME``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from tollhouse.config import Config, parse_config
from tollhouse.opdirs import ensure_private_dir, workspace_dir
from tollhouse.upstreams.pins import published_name
from tollhouse.upstreams.spec import UpstreamSpec

_SECRETISH = re.compile(r"(key|token|secret|password|passwd|auth|credential|cookie|session)", re.I)


@dataclass
class Moved:
    entry: str
    name: str
    table: str
    rules: str
    read_only: list[str] = field(default_factory=list)
    asks: list[str] = field(default_factory=list)
    note: str = ""


def upstream_name(entry: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]", "", entry.lower())
    base = re.sub(r"^[0-9]+", "", base)[:14] or "server"
    name, n = base, 2
    while name in taken:
        name = f"{base[:14]}{n}"
        n += 1
    taken.add(name)
    return name


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string or list of strings is valid TOML


def _looks_secret(value: str) -> bool:
    """Whatever the redactor would hide (a token shape, a password in a URL) is a secret too."""
    from tollhouse.gate.redact import Redactor

    return Redactor().redact_text(value) != value


def _secret_profile(root: Path, name: str, key: str, value: str) -> tuple[str, str]:
    """Store ``value`` outside the workspace and return the credential profile naming it."""
    folder = ensure_private_dir(workspace_dir(root) / "upstream-secrets" / name)
    path = folder / key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return f"{name}:{re.sub(r'[^A-Za-z0-9_.-]', '_', key)[:64]}", str(path)


def _values(root: Path, name: str, mapping: dict[str, Any], profiles: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in mapping.items():
        text = str(value)
        if text and (_SECRETISH.search(key) or _looks_secret(text)):
            profile, path = _secret_profile(root, name, key, text)
            profiles.append(f'[credentials."{profile}"]\nsource = {_toml("file:" + path)}\n')
            out[key] = "{" + profile + "}"
        else:
            out[key] = text
    return out


def table_for(root: Path, entry_name: str, entry: dict[str, Any], name: str) -> tuple[str, str] | None:
    """The ``[[upstreams]]`` table (and credential profiles) for one client entry; None if unusable."""
    profiles: list[str] = []
    lines = [
        "[[upstreams]]",
        f"name = {_toml(name)}",
        f"description = {_toml('moved from the client entry ' + entry_name)}",
    ]
    if isinstance(entry.get("command"), str) and entry["command"]:
        args = [str(a) for a in entry.get("args") or []]
        lines.append(f"command = {_toml([entry['command'], *args])}")
        if isinstance(entry.get("cwd"), str):
            lines.append(f"cwd = {_toml(entry['cwd'])}")
        env = _values(root, name, dict(entry.get("env") or {}), profiles)
        if env:
            lines.append("env = { " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in env.items()) + " }")
    elif isinstance(entry.get("url"), str):
        lines.append(f"url = {_toml(entry['url'])}")
        headers = _values(root, name, dict(entry.get("headers") or {}), profiles)
        if headers:
            lines.append(
                "headers = { " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in headers.items()) + " }"
            )
    else:
        return None
    return "\n".join(lines) + "\n", "".join(p + "\n" for p in profiles)


def rules_for(name: str, tools: dict[str, dict[str, Any]] | None) -> tuple[str, list[str], list[str]]:
    if tools is None:
        rule = f'[[rules]]\nid = "{name}-asks"\ntools = ["{name}_*"]\neffect = "ask"\n'
        return rule, [], []
    read_only = sorted(
        published_name(name, t)
        for t, d in tools.items()
        if (d.get("annotations") or {}).get("readOnlyHint") is True
    )
    asks = sorted(published_name(name, t) for t in tools if published_name(name, t) not in read_only)
    text = ""
    if read_only:
        text += f'[[rules]]\nid = "{name}-read"\ntools = {_toml(read_only)}\neffect = "allow"\n\n'
    if asks:
        text += f'[[rules]]\nid = "{name}-writes-ask"\ntools = {_toml(asks)}\neffect = "ask"\n'
    return text, read_only, asks


async def _probe_tools(config: Config, spec: UpstreamSpec) -> tuple[dict[str, dict[str, Any]] | None, str]:
    from tollhouse.upstreams.admin import probe

    probed = await probe(config, spec)
    return (probed.definitions, "") if probed.error is None else (None, probed.error)


def wrap_existing(
    kind: Any, data: dict[str, Any], config: Config, keep: str
) -> tuple[dict[str, Any], list[Moved]]:
    """Move every server in ``data[servers_key]`` except ``keep`` and tollhouse's own into ``config``'s
    file; returns the client data without them and what was moved. tollhouse.toml is appended to."""
    from tollhouse.server.clients import find_entries
    from tollhouse.upstreams.spec import parse_upstreams

    assert config.path is not None
    servers_key = kind.servers_key
    servers = data.get(servers_key) or {}
    if not isinstance(servers, dict):
        return data, []
    ours = set(find_entries(kind, data)) | {keep}
    taken = {s.name for s in parse_upstreams(config)}
    moved: list[Moved] = []
    text = config.text
    for entry_name, entry in servers.items():
        if entry_name in ours or not isinstance(entry, dict):
            continue
        name = upstream_name(entry_name, taken)
        made = table_for(config.root, entry_name, entry, name)
        if made is None:
            continue
        table, profiles = made
        probe_config = parse_config(profiles + table, config.path, config.root)
        spec = parse_upstreams(probe_config)[0]
        tools, error = anyio.run(_probe_tools, probe_config, spec)
        rules, read_only, asks = rules_for(name, tools)
        note = f"could not start it ({error}); every tool asks" if tools is None else ""
        moved.append(Moved(entry_name, name, table, rules, read_only, asks, note))
        text = text.rstrip("\n") + "\n\n" + profiles + table + "\n" + rules
    if not moved:
        return data, []
    parse_config(text, config.path, config.root)  # the result must load before anything is written
    tmp = config.path.with_name(f".{config.path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    backup = config.path.with_name(config.path.name + ".bak")
    backup.write_text(config.text, encoding="utf-8")
    os.replace(tmp, config.path)
    remaining = {k: v for k, v in servers.items() if k not in {m.entry for m in moved}}
    return {**data, servers_key: remaining}, moved


def wrap_cli(kind: Any, data: dict[str, Any], config: Config, keep: str) -> dict[str, Any]:
    """The ``install --wrap-existing`` hook: move the servers, say what happened, return the client data."""
    remaining, moved = wrap_existing(kind, data, config, keep)
    for m in moved:
        what = m.note or f"{len(m.read_only)} read-only tools allowed, {len(m.asks)} others ask"
        print(f"moved {m.entry!r} behind tollhouse as upstream {m.name}: {what}")
    if moved:
        print(f"{config.path} was extended (previous text kept as {config.path}.bak). Review it, then run:")
        print("  tollhouse policy trust")
        for m in moved:
            print(f"  tollhouse upstream trust {m.name}")
    else:
        print("no other servers to move")
    return remaining
