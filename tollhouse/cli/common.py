"""Helpers shared by command modules: loading the workspace, printing errors, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

from tollhouse.cli import exitcodes
from tollhouse.config import Config, ConfigError, load_config


class CommandError(Exception):
    def __init__(self, message: str, code: int = exitcodes.USAGE) -> None:
        super().__init__(message)
        self.code = code


def load(args: Any) -> Config:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc


def load_trusted(args: Any) -> Config:
    """The config, only if its policy is the one a person trusted: every command that enforces the
    policy (serve, call, export) loads through here. The hash is taken of the very text parsed, so a
    file swapped between the check and the parse cannot slip through."""
    from tollhouse.trust import UntrustedPolicy, guarded_folders, require_trusted

    config = load(args)
    try:
        require_trusted(config.path, config.text, guarded_folders(config))
    except UntrustedPolicy as exc:
        raise CommandError(str(exc), exitcodes.UNTRUSTED) from exc
    return config


def trust_note(config: Config) -> str | None:
    """For commands that only inspect (policy check/explain, doctor): a line saying the policy is not
    trusted, or None when it is."""
    from tollhouse.trust import UntrustedPolicy, refusal, trust_state

    if config.path is None:
        return None
    try:
        state = trust_state(config.path, config.text)
    except UntrustedPolicy as exc:
        return f"note: {exc}"
    if state.ok:
        return None
    return "note: " + refusal(state).replace("; nothing was run", "; serve, call and export refuse it")


def fail(message: str, code: int = exitcodes.USAGE) -> int:
    print(f"tollhouse: {message}", file=sys.stderr)
    return code


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def parse_json_arg(text: str, what: str = "arguments") -> Any:
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{what} are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
