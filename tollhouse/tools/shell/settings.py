"""The ``[shell]`` section of tollhouse.toml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollhouse.config import _SECTION_KEYS
from tollhouse.tools.base import ToolError

KEYS = _SECTION_KEYS["shell"]  # one list: config refuses unknown keys with it, this reads them


@dataclass(frozen=True)
class ShellSettings:
    pass_env: tuple[str, ...] = ()
    """Names of server environment variables passed to every command, by name."""
    allow_env: tuple[str, ...] = ()
    """Names a call may set through its ``env`` argument."""
    default_timeout_s: float = 60.0
    max_timeout_s: float = 600.0
    output_cap_bytes: int = 512 * 1024
    """Per stream; half kept from the start, half from the end."""
    sandbox: str = "none"
    workspace_programs: bool = False
    """Allow bare program names that PATH resolves to a file inside a workspace root (a venv there)."""
    progress_interval_s: float = 0.1

    @classmethod
    def from_config(cls, config: Any) -> ShellSettings:
        if config is None:
            return cls()
        raw = config.section("shell") if hasattr(config, "section") else {}
        try:
            return cls._from_mapping(raw)
        except (TypeError, ValueError) as exc:
            raise ToolError(
                f"invalid [shell] settings in tollhouse.toml: {exc}; see docs/tools/shell.md"
            ) from exc

    @classmethod
    def _from_mapping(cls, raw: dict[str, Any]) -> ShellSettings:
        def names(key: str) -> tuple[str, ...]:
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"shell.{key} must be a list of variable names")
            return tuple(value)

        sandbox = raw.get("sandbox", "none")
        if sandbox not in ("none", "bwrap"):
            raise ValueError(f'shell.sandbox must be "none" or "bwrap", not {sandbox!r}')
        settings = cls(
            pass_env=names("pass_env"),
            allow_env=names("allow_env"),
            default_timeout_s=float(raw.get("default_timeout_s", cls.default_timeout_s)),
            max_timeout_s=float(raw.get("max_timeout_s", cls.max_timeout_s)),
            output_cap_bytes=int(raw.get("output_cap_bytes", cls.output_cap_bytes)),
            sandbox=sandbox,
            workspace_programs=bool(raw.get("workspace_programs", False)),
            progress_interval_s=float(raw.get("progress_interval_s", cls.progress_interval_s)),
        )
        if settings.max_timeout_s <= 0 or settings.default_timeout_s <= 0:
            raise ValueError("shell timeouts must be positive")
        if settings.output_cap_bytes < 1024:
            raise ValueError("shell.output_cap_bytes must be at least 1024")
        return settings
