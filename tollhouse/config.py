"""Finding and loading ``tollhouse.toml``.

Search order: ``--config``, then ``$TOLLHOUSE_CONFIG``, then upward from the working directory. The
workspace root is the folder holding the file; state lives in ``<root>/.tollhouse/``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollhouse.workspace import Workspace

CONFIG_NAME = "tollhouse.toml"
ENV_VAR = "TOLLHOUSE_CONFIG"

# Top-level tables a config may hold. A tool family that reads its own table adds its name here.
KNOWN_SECTIONS = {
    "workspace",
    "rules",
    "receipts",
    "limits",
    "redaction",
    "identity",
    "tools",
    "approvals",
    "credentials",
    "github",
    "shell",
    "files",
    "http",
    "upstreams",
    "oauth",
    "store",
    "run",
    "budgets",
    "prices",
}

_SECTION_KEYS: dict[str, set[str]] = {
    "workspace": {"roots", "immutable"},
    "receipts": {
        "checkpoint_every",
        "checkpoint_interval_s",
        "synchronous",
        "excerpt_bytes",
        "witnesses",
        "max_value_bytes",
    },
    "limits": {"timeout_s", "max_argument_bytes", "max_result_bytes"},
    "redaction": {"env", "patterns"},
    "identity": {"operator"},
    "store": {"url"},
    "tools": {"modules", "families"},
    "approvals": {"ttl_s"},
    # [run]: checked by tollhouse/run/settings.py
    "run": {"provider", "max_turns", "max_retries", "max_retry_wait_s", "stream"}
    | {"openai", "openai-responses", "anthropic", "gemini"},
    "github": {
        "api_url",
        "credential",
        "pin_after_private_read",
        "pin_ttl_s",
        "timeout_s",
        "max_retries",
        "max_wait_s",
        "backoff_s",
        "max_pages",
    },
    "shell": {
        "pass_env",
        "allow_env",
        "default_timeout_s",
        "max_timeout_s",
        "output_cap_bytes",
        "sandbox",
        "workspace_programs",
        "progress_interval_s",
    },
    "files": {"hash_max_bytes"},
    "http": {
        "listen",
        "auth",
        "token_file",
        "principal",
        "tokens",
        "allowed_hosts",
        "allowed_origins",
        "max_event_bytes",
        # serve --http operations (tollhouse/server/http_options.py)
        "event_store",
        "sealing_key_file",
        "metrics",
        "otlp_endpoint",
        "shutdown_grace_s",
    },
    "oauth": {
        "issuer",
        "resource",
        "audience",
        "principal_claim",
        "groups_claim",
        "scopes",
        "algorithms",
        "leeway_s",
        "jwks_cache_s",
        "jwks_refetch_s",
        "introspection_credential",
        "client_id",
        "login_scopes",
    },
}


class ConfigError(Exception):
    """A config problem, located: file, line (when known), and what to do."""

    def __init__(self, message: str, *, file: Path | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.bare = message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class ReceiptSettings:
    checkpoint_every: int = 1000
    synchronous: str = "normal"
    """``normal``: a receipt survives a crash of the process (WAL). ``full``: also a power loss."""
    excerpt_bytes: int = 2048
    checkpoint_interval_s: float = 5.0
    """A running server signs the head this often when receipts are new (and every N, and at exit)."""
    max_value_bytes: int = 4096
    """An argument string longer than this is kept in receipts as its sha256, length and a redacted head."""
    witnesses: tuple[str, ...] = ()
    """Extra places (``file:/folder``) each new checkpoint is copied to, besides the operator's own."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 120.0
    max_argument_bytes: int = 1024 * 1024
    max_result_bytes: int = 4 * 1024 * 1024


@dataclass
class Config:
    path: Path | None
    text: str
    data: dict[str, Any]
    workspace: Workspace
    receipts: ReceiptSettings = field(default_factory=ReceiptSettings)
    limits: Limits = field(default_factory=Limits)
    redact_env: list[str] = field(default_factory=list)
    redact_patterns: list[str] = field(default_factory=list)
    operator: str | None = None
    tool_modules: list[str] = field(default_factory=list)
    tool_families: list[str] | None = None
    approval_ttl_s: float = 300.0

    @property
    def root(self) -> Path:
        return self.workspace.root

    @property
    def state_dir(self) -> Path:
        return self.workspace.state_dir

    @property
    def rules(self) -> list[dict[str, Any]]:
        return list(self.data.get("rules", []))

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def line_of(self, needle: str) -> int | None:
        """Best-effort line number of a rule id or key, for error messages."""
        pattern = re.compile(r"^\s*id\s*=\s*[\"']" + re.escape(needle) + r"[\"']", re.M)
        match = pattern.search(self.text) or re.search(
            r"^\s*\[+\s*" + re.escape(needle) + r"\s*\]+", self.text, re.M
        )
        return self.text.count("\n", 0, match.start()) + 1 if match else None


def _placed(path: Path) -> Path:
    """The folder resolved, the file's own name kept: a symlinked tollhouse.toml is found at the same
    place (and so judged against the same trust record, with the same workspace root) whether it is
    named with --config, $TOLLHOUSE_CONFIG or found by the upward search."""
    absolute = Path(os.path.abspath(path))
    return Path(os.path.realpath(absolute.parent)) / absolute.name


def find_config(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return _placed(path)
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"${ENV_VAR} names {path}, which does not exist")
        return _placed(path)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or any parent folder; "
        "run `tollhouse init` to create one, or pass --config"
    )


def _expect(cond: bool, message: str, path: Path | None, line: int | None = None) -> None:
    if not cond:
        raise ConfigError(message, file=path, line=line)


def read_config_text(path: Path) -> str:
    """The file's exact text: no newline translation, so the policy hash (and the trust record) is
    the sha256 of the file's bytes, the same number `sha256sum tollhouse.toml` prints."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 at byte {exc.start}", file=path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from exc


def load_config(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Config:
    path = find_config(explicit, cwd)
    return parse_config(read_config_text(path), path)


def _credential_files(data: dict[str, Any], base: Path) -> tuple[Path, ...]:
    """Files the config names as credential sources: no tool may reach them (``workspace.state``).
    A malformed [credentials] table is reported when the gate opens; here it names no file."""
    from tollhouse.identity.profiles import ProfileError, parse_profiles

    try:
        profiles = parse_profiles(data.get("credentials", {}), base)
    except ProfileError:
        return ()
    return tuple(p.path for p in profiles.values() if p.kind == "file" and p.path is not None)


def parse_config(text: str, path: Path | None, root: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))  # 3.11's TOMLDecodeError has no lineno
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise ConfigError(f"not valid TOML: {exc}", file=path, line=line) from exc
    base = root or (path.parent if path else Path.cwd())
    probe = Config(path=path, text=text, data=data, workspace=Workspace([base]))

    for key, value in data.items():
        if key not in KNOWN_SECTIONS:
            raise ConfigError(
                f"unknown section [{key}]; known: {', '.join(sorted(KNOWN_SECTIONS))}",
                file=path,
                line=probe.line_of(key),
            )
        allowed = _SECTION_KEYS.get(key)
        if allowed is not None:
            _expect(isinstance(value, dict), f"[{key}] must be a table", path, probe.line_of(key))
            for sub in value:
                _expect(
                    sub in allowed,
                    f"unknown key {key}.{sub}; known: {', '.join(sorted(allowed))}",
                    path,
                    probe.line_of(key),
                )
    _expect(isinstance(data.get("rules", []), list), "rules must be an array of tables", path)

    ws = data.get("workspace", {})
    roots_raw = ws.get("roots", ["."])
    _expect(
        isinstance(roots_raw, list) and roots_raw and all(isinstance(r, str) for r in roots_raw),
        "workspace.roots must be a non-empty list of folder names",
        path,
        probe.line_of("workspace"),
    )
    roots = [(base / r).resolve() if not os.path.isabs(r) else Path(r) for r in roots_raw]
    for r in roots:
        _expect(r.is_dir(), f"workspace root {r} is not a folder", path, probe.line_of("workspace"))
    immutable = ws.get("immutable", [".git/**", ".tollhouse/**", CONFIG_NAME])
    _expect(
        isinstance(immutable, list) and all(isinstance(i, str) for i in immutable),
        "workspace.immutable must be a list of path globs",
        path,
        probe.line_of("workspace"),
    )
    workspace = Workspace(
        roots,
        immutable,
        config_file=path,
        state_dir=base / ".tollhouse",
        secret_files=_credential_files(data, base),
    )

    rs = data.get("receipts", {})
    receipts = ReceiptSettings(
        checkpoint_every=int(rs.get("checkpoint_every", 1000)),
        synchronous=str(rs.get("synchronous", "normal")),
        excerpt_bytes=int(rs.get("excerpt_bytes", 2048)),
        checkpoint_interval_s=float(rs.get("checkpoint_interval_s", 5.0)),
        witnesses=tuple(rs.get("witnesses", ())),
        max_value_bytes=int(rs.get("max_value_bytes", 4096)),
    )
    _expect(receipts.max_value_bytes >= 64, "receipts.max_value_bytes must be >= 64", path)
    _expect(receipts.checkpoint_interval_s > 0, "receipts.checkpoint_interval_s must be > 0", path)
    _expect(
        all(
            isinstance(w, str) and w.startswith(("file:/", "https://", "http://")) for w in receipts.witnesses
        ),
        'receipts.witnesses must be a list of "file:/path/to/folder" or "https://host/path" strings',
        path,
    )
    from tollhouse.receipts.witness import parse_witness_spec

    for spec in receipts.witnesses:
        try:
            parse_witness_spec(spec)
        except ValueError as exc:
            raise ConfigError(f"receipts.witnesses: {exc}", file=path) from exc
    _expect(receipts.synchronous in ("normal", "full"), "receipts.synchronous: normal or full", path)
    _expect(receipts.checkpoint_every >= 1, "receipts.checkpoint_every must be >= 1", path)
    from tollhouse.store import check_store_table

    check_store_table(data.get("store", {}), path)
    lim = data.get("limits", {})
    limits = Limits(
        timeout_s=float(lim.get("timeout_s", Limits.timeout_s)),
        max_argument_bytes=int(lim.get("max_argument_bytes", Limits.max_argument_bytes)),
        max_result_bytes=int(lim.get("max_result_bytes", Limits.max_result_bytes)),
    )
    from tollhouse.gate.budgets_config import check_config as check_budgets

    check_budgets(data, text, path)  # [[budgets]] and [prices]: located errors at load
    red = data.get("redaction", {})
    tools = data.get("tools", {})
    families = tools.get("families")
    config = Config(
        path=path,
        text=text,
        data=data,
        workspace=workspace,
        receipts=receipts,
        limits=limits,
        redact_env=list(red.get("env", [])),
        redact_patterns=list(red.get("patterns", [])),
        operator=data.get("identity", {}).get("operator"),
        tool_modules=list(tools.get("modules", [])),
        tool_families=list(families) if families is not None else None,
        approval_ttl_s=float(data.get("approvals", {}).get("ttl_s", 300.0)),
    )
    if "upstreams" in data:  # other MCP servers behind the gate: checked by their own module
        from tollhouse.upstreams.spec import check_config

        check_config(config)
    return config
