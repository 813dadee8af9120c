"""What `tollhouse ci` reports: the calls of an exported bundle, one row per call, by outcome.

Read from the bundle just written (the artifact a reviewer downloads), not from the live store, so the
summary describes exactly what was exported. Every value came through the gate's redactor; on a
terminal and in Markdown it is also escaped, since a tool name or a message may be model-chosen.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes

CATEGORIES = ("denied", "needs_approval", "error", "failed")
"""What --fail-on can name, in the order their exit codes take precedence."""
FAIL_ON_CHOICES = (*CATEGORIES, "never")
DEFAULT_FAIL_ON = "denied,needs_approval,error"
EXIT_FOR = {
    "denied": exitcodes.DENIED,
    "needs_approval": exitcodes.NEEDS_APPROVAL,
    "error": exitcodes.TOOL_ERROR,
    "failed": exitcodes.COMMAND_FAILED,
}
_ERRORS = frozenset({"error", "timeout", "cancelled", "interrupted", "unfinished"})
STATUS_ORDER = ("ok", "failed", "denied", "needs_approval", "error", "timeout", "cancelled",
                "interrupted", "unfinished")  # fmt: skip


def category(status: str) -> str | None:
    """The --fail-on category of a call's final status (None for ok)."""
    if status in ("denied", "needs_approval", "failed"):
        return status
    return "error" if status in _ERRORS else None


def parse_fail_on(text: str) -> tuple[str, ...]:
    """``denied,error`` -> ("denied", "error"); ``never`` alone -> (); ValueError names a bad word."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in words if w not in FAIL_ON_CHOICES]
    if bad or not words:
        raise ValueError(
            f"--fail-on {text!r}: expected a comma-separated list of {', '.join(FAIL_ON_CHOICES)}"
        )
    if "never" in words:
        if len(words) > 1:
            raise ValueError("--fail-on never cannot be combined with other values")
        return ()
    return tuple(c for c in CATEGORIES if c in words)


@dataclass
class CallRow:
    call_id: str
    tool: str
    status: str
    seq: int
    rules: list[str] = field(default_factory=list)
    message: str | None = None


@dataclass
class Summary:
    entries: int = 0
    calls: list[CallRow] = field(default_factory=list)
    ci: list[dict[str, Any]] = field(default_factory=list)
    """The CI context of each process that wrote receipts (its "process" event), distinct."""

    def counts(self) -> dict[str, int]:
        found = Counter(c.status for c in self.calls)
        return {s: found[s] for s in STATUS_ORDER if found[s]}

    def matching(self, fail_on: tuple[str, ...]) -> list[str]:
        present = {category(c.status) for c in self.calls}
        return [c for c in fail_on if c in present]

    def listed(self) -> list[CallRow]:
        """The calls worth naming: everything but ok."""
        return [c for c in self.calls if c.status != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "calls": len(self.calls),
            "by_status": self.counts(),
            "not_ok": [asdict(c) for c in self.listed()],
            "ci": self.ci,
        }


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def summarize(bundle: Path) -> Summary:
    """One row per call, from the entries of ``bundle``. Lines that do not parse are skipped here:
    verification is what judges them."""
    out = Summary()
    rows: dict[str, CallRow] = {}
    with open(bundle, encoding="utf-8", errors="replace") as fh:
        header = _loads(fh.readline())
        count = header.get("count") if isinstance(header, dict) else None
        for n, line in enumerate(fh):
            if not isinstance(count, int) or n >= count:
                break
            entry = _loads(line)
            if not isinstance(entry, dict):
                continue
            out.entries += 1
            _take(out, rows, entry)
    out.calls = sorted(rows.values(), key=lambda r: r.seq)
    return out


def _take(out: Summary, rows: dict[str, CallRow], e: dict[str, Any]) -> None:
    kind, details = e.get("kind"), _loads(e.get("details"))
    if kind == "event":
        if isinstance(details, dict) and details.get("event") == "process" and details.get("ci"):
            if details["ci"] not in out.ci:
                out.ci.append(details["ci"])
        return
    call_id = str(e.get("call_id") or "")
    raw_seq = e.get("seq")
    seq = raw_seq if isinstance(raw_seq, int) else 0
    row = rows.get(call_id)
    if row is None:
        row = rows[call_id] = CallRow(call_id, str(e.get("tool") or "?"), "unfinished", seq)
    row.seq = seq
    rules = _loads(e.get("rules"))
    if isinstance(rules, list) and rules:
        row.rules = [str(r) for r in rules]
    outcome = e.get("outcome")
    if kind in ("outcome", "interrupted") and isinstance(outcome, str):
        failed = isinstance(details, dict) and details.get("failed")
        row.status = "failed" if outcome == "ok" and failed else outcome
        row.message = e.get("message") if isinstance(e.get("message"), str) else None


# -- rendering ---------------------------------------------------------------------------------------
def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(summary: Summary) -> str:
    """Plain text for a log: counts by status, then each call that was not ok."""
    from tollhouse.display import show_text

    lines = [f"{'status':<16}{'calls':>6}"]
    lines += [f"{status:<16}{n:>6}" for status, n in summary.counts().items()]
    lines.append(f"{'total':<16}{len(summary.calls):>6}")
    listed = summary.listed()
    if listed:
        lines += ["", f"{'seq':>6}  {'status':<15} {'tool':<22} why"]
        for c in listed:
            why = ", ".join(c.rules) + (": " if c.rules and c.message else "") + (c.message or "")
            tool = show_text(_cut(c.tool, 22))
            lines.append(f"{c.seq:>6}  {c.status:<15} {tool:<22} {show_text(_cut(why, 100))}")
    return "\n".join(lines)


def _md(text: str) -> str:
    """Text safe in a Markdown table cell: no HTML, no pipes, no line breaks, no code spans."""
    return html.escape(_cut(text, 160), quote=False).replace("|", "\\|").replace("`", "'")


def markdown(summary: Summary, verified: str, bundle: str, exit_code: int) -> str:
    lines = ["### tollhouse receipts", "", f"- verification: {_md(verified)}",
             f"- bundle: `{_md(bundle)}`", f"- exit code: {exit_code}"]  # fmt: skip
    for ci in summary.ci:
        lines.append("- run: " + ", ".join(f"{_md(str(k))}={_md(str(v))}" for k, v in ci.items()))
    lines += ["", "| status | calls |", "| --- | ---: |"]
    lines += [f"| {s} | {n} |" for s, n in summary.counts().items()]
    lines.append(f"| **total** | {len(summary.calls)} |")
    listed = summary.listed()
    if listed:
        lines += ["", "| seq | status | tool | rules | message |", "| ---: | --- | --- | --- | --- |"]
        for c in listed:
            cells = [str(c.seq), c.status, _md(c.tool), _md(", ".join(c.rules)), _md(c.message or "")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
