"""``[[budgets]]`` and ``[prices]`` in tollhouse.toml: what may be spent, per tool, principal and
session or run. Parsed exactly (an unknown key or a wrong type is a located ConfigError); the
counting lives in ``budgets.py``.

    [[budgets]]
    id = "shell-per-session"
    tools = ["shell_*"]            # name globs (default: every tool)
    principals = ["local:*"]       # operator / principal globs (default: everyone)
    per = "session"                # session | run | principal
    each_tool = false              # true: every tool it covers counted on its own
    calls_per_minute = 30
    max_calls = 500
    max_tokens = 2_000_000         # model tokens the runner reports (charge_model)
    max_cost_usd = 5.0             # estimated from [prices]
    max_wall_s = 3600              # since the scope's first call or charge

    [prices."gpt-4.1"]             # USD per million tokens; overrides the built-in estimate
    input = 2.0
    output = 8.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollhouse.globs import compile_name_glob

PER = ("session", "run", "principal")
LIMITS = ("calls_per_minute", "max_calls", "max_tokens", "max_cost_usd", "max_wall_s")
KEYS = {"id", "tools", "principals", "per", "each_tool", "description", *LIMITS}
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # (input, output) USD per million tokens: list-price estimates at the time of writing, for the
    # cost limit only. Prices change: an operator sets the real ones in [prices], which win.
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gemini-2.5-pro": (1.25, 10.0),
    "gemini-2.5-flash": (0.3, 2.5),
}


class BudgetConfigError(ValueError):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Budget:
    id: str
    per: str
    tools: tuple[str, ...] = ("*",)
    principals: tuple[str, ...] = ("*",)
    calls_per_minute: int | None = None
    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_s: float | None = None
    each_tool: bool = False
    """Count (and limit) every covered tool on its own instead of all of them together."""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tool_globs", [compile_name_glob(g) for g in self.tools])
        object.__setattr__(self, "_principal_globs", [compile_name_glob(g) for g in self.principals])

    def covers_tool(self, tool: str) -> bool:
        return any(g.match(tool) for g in self._tool_globs)  # type: ignore[attr-defined]

    def covers_principal(self, principal: str) -> bool:
        return any(g.match(principal) for g in self._principal_globs)  # type: ignore[attr-defined]

    @property
    def counts_calls(self) -> bool:
        return self.calls_per_minute is not None or self.max_calls is not None

    @property
    def counts_model(self) -> bool:
        return self.max_tokens is not None or self.max_cost_usd is not None


@dataclass(frozen=True)
class Prices:
    table: dict[str, tuple[float, float]]

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        """Estimated USD, or None when the model has no price. A dated model name
        (``gpt-4.1-2025-04-14``, ``claude-sonnet-4-20250514``) uses its base name's price."""
        price = self.table.get(model)
        if price is None:
            base = re.sub(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$", "", model)
            price = self.table.get(base)
        if price is None:
            return None
        return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def _line(config_text: str, needle: str, index: int = 0) -> int | None:
    found = [i for i, line in enumerate(config_text.splitlines(), 1) if line.strip().startswith(needle)]
    return found[index] if index < len(found) else None


def parse_budgets(data: dict[str, Any], text: str = "") -> list[Budget]:
    raw = data.get("budgets", [])
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise BudgetConfigError("budgets must be an array of tables ([[budgets]])", _line(text, "budgets"))
    out: list[Budget] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        line = _line(text, "[[budgets]]", i)
        where = f"budgets[{i}]"
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            known = ", ".join(sorted(KEYS))
            raise BudgetConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {known}", line)
        bid = entry.get("id")
        if not isinstance(bid, str) or not ID_RE.match(bid):
            why = f"{where}: id must be 1-64 letters, digits, '_', '-' or '.' (got {bid!r})"
            raise BudgetConfigError(why, line)
        if bid in seen:
            raise BudgetConfigError(f"{where}: id {bid!r} is used twice", line)
        seen.add(bid)
        per = entry.get("per", "session")
        if per not in PER:
            raise BudgetConfigError(f"budget {bid}: per must be one of {', '.join(PER)} (got {per!r})", line)
        globs: dict[str, tuple[str, ...]] = {}
        for key in ("tools", "principals"):
            value = entry.get(key, ["*"])
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise BudgetConfigError(f"budget {bid}: {key} must be a non-empty list of name globs", line)
            globs[key] = tuple(value)
        limits: dict[str, Any] = {}
        for key in LIMITS:
            if key not in entry:
                continue
            value = entry[key]
            whole = key in ("calls_per_minute", "max_calls", "max_tokens")
            ok = isinstance(value, int) if whole else isinstance(value, int | float)
            if isinstance(value, bool) or not ok or value < 0:
                kind = "a whole number >= 0" if whole else "a number >= 0"
                raise BudgetConfigError(f"budget {bid}: {key} must be {kind} (got {value!r})", line)
            limits[key] = value
        if not limits:
            raise BudgetConfigError(f"budget {bid}: set at least one of {', '.join(LIMITS)}", line)
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise BudgetConfigError(f"budget {bid}: description must be a string", line)
        each_tool = entry.get("each_tool", False)
        if not isinstance(each_tool, bool):
            raise BudgetConfigError(f"budget {bid}: each_tool must be true or false", line)
        if each_tool and set(limits) - {"calls_per_minute", "max_calls"}:
            raise BudgetConfigError(
                f"budget {bid}: each_tool counts tool calls, so it takes calls_per_minute and max_calls "
                "only; put token, cost and wall-time limits in a budget of their own",
                line,
            )
        out.append(Budget(id=bid, per=per, each_tool=each_tool, description=description, **globs, **limits))
    return out


def parse_prices(data: dict[str, Any], text: str = "") -> Prices:
    raw = data.get("prices", {})
    line = _line(text, "[prices")
    if not isinstance(raw, dict):
        raise BudgetConfigError("[prices] must be a table of model = {input = N, output = N}", line)
    table = dict(DEFAULT_PRICES)
    for model, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise BudgetConfigError(
                f"prices.{model}: give input and output, USD per million tokens "
                f'([prices."{model}"] input = 2.0, output = 8.0)',
                line,
            )
        values = (entry["input"], entry["output"])
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values):
            raise BudgetConfigError(f"prices.{model}: input and output must be numbers >= 0", line)
        table[model] = (float(values[0]), float(values[1]))
    return Prices(table)


def check_config(data: dict[str, Any], text: str, path: Path | None) -> None:
    """The hook ``parse_config`` calls: a bad [[budgets]] or [prices] fails the load, located."""
    from tollhouse.config import ConfigError

    try:
        parse_budgets(data, text)
        parse_prices(data, text)
    except BudgetConfigError as exc:
        raise ConfigError(str(exc), file=path, line=exc.line) from None
