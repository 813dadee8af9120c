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
