"""Golden policy cases: recorded calls kept in a file with the decision each must get.

``tollhouse policy test --record FILE`` writes them from history (one case per distinct tool and
arguments; calls whose arguments cannot be rebuilt are left out and counted); ``tollhouse policy test
FILE`` decides each case under the policy in tollhouse.toml with the replay machinery. The file is
JSON, meant to be reviewed and committed next to the policy, and edited by hand where the expected
decision should change::

    {"tollhouse_policy_cases": 1,
     "cases": [{"tool": "files_write", "arguments": {"path": "src/a.py", "content": "x"},
                "expect": "allow", "rules": ["edit-src"], "from": {"seq": 12, "time": "..."}}]}

``rules`` is optional: without it only the effect is checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tollhouse.gate.digest import canonical_json
from tollhouse.gate.replay import RANK, Recorded, unreconstructable

FORMAT_KEY = "tollhouse_policy_cases"
VERSION = 1


class CaseFileError(ValueError):
    """A case file that cannot be read exactly: the message says where."""


def cases_from_history(recorded: list[Recorded]) -> tuple[list[dict[str, Any]], int]:
    """(cases, how many calls were left out because their arguments cannot be rebuilt)."""
    cases: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    skipped = 0
    for rec in recorded:
        if unreconstructable(rec.arguments) is not None:
            skipped += 1
            continue
        key = (rec.tool, rec.arguments or "")
        if key in seen:
            continue
        seen.add(key)
        cases.append(
            {
                "tool": rec.tool,
                "arguments": json.loads(rec.arguments or "{}"),
                "expect": rec.effect,
                "rules": list(rec.rules),
                "from": {"seq": rec.seq, "call_id": rec.call_id, "time": rec.time},
            }
        )
    return cases, skipped


def write_cases(path: Path, cases: list[dict[str, Any]]) -> None:
    text = json.dumps({FORMAT_KEY: VERSION, "cases": cases}, indent=1, ensure_ascii=False) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a half-written file never replaces a good one


def read_cases(path: Path) -> list[Recorded]:
    """The cases as ``Recorded`` calls (seq = the case's position, from 1)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CaseFileError(f"{path} is not JSON: {exc}") from None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get(FORMAT_KEY) != VERSION or not isinstance(cases, list):
        raise CaseFileError(
            f'{path} is not a policy case file (expected {{"{FORMAT_KEY}": {VERSION}, "cases": [...]}}); '
            "write one with `tollhouse policy test --record FILE`"
        )
    out: list[Recorded] = []
    for i, case in enumerate(data["cases"], 1):
        where = f"{path}: case {i}"
        if not isinstance(case, dict):
            raise CaseFileError(f"{where} is not an object")
        unknown = sorted(set(case) - {"tool", "arguments", "expect", "rules", "from", "note"})
        if unknown:
            raise CaseFileError(f"{where}: unknown key(s) {', '.join(unknown)}")
        tool, arguments, expect = case.get("tool"), case.get("arguments"), case.get("expect")
        if not isinstance(tool, str) or not tool:
            raise CaseFileError(f"{where}: 'tool' must be a tool name")
        if not isinstance(arguments, dict):
            raise CaseFileError(f"{where}: 'arguments' must be a JSON object")
        if expect not in RANK:
            raise CaseFileError(f"{where}: 'expect' must be allow, ask or deny (got {expect!r})")
        rules = case.get("rules")
        if rules is not None and not (isinstance(rules, list) and all(isinstance(r, str) for r in rules)):
            raise CaseFileError(f"{where}: 'rules' must be a list of rule ids")
        origin = case.get("from") if isinstance(case.get("from"), dict) else {}
        out.append(
            Recorded(
                seq=i,
                call_id=str(origin.get("call_id") or f"case-{i}"),
                time=str(origin.get("time") or ""),
                tool=tool,
                arguments=canonical_json(arguments),
                effect=expect,
                rules=tuple(rules) if rules is not None else ("*",),
            )
        )
    return out
