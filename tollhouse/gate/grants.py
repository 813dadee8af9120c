"""Standing grants: an operator's advance "yes" to calls that policy says to ask about.

A grant names a tool glob, optional argument globs, optionally the digest of one exact argument set,
an expiry and a use count. Using one is a single conditional UPDATE, so two processes cannot both
spend the last use.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tollhouse.gate.grant_match import EXACT, GrantSubject, constraint_matches, path_args
from tollhouse.globs import compile_name_glob, compile_path_glob
from tollhouse.state.db import StateDB, from_row
from tollhouse.tools.base import Registry

_LEGACY_PATHS = ("path", "paths", "source", "destination", "cwd")
"""Path argument names when no tool is at hand to say (judged lexically: display only)."""
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float | None:
    """``30m``, ``2h``, ``7d`` -> seconds; ``never`` -> None."""
    if text == "never":
        return None
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"bad duration {text!r}: use a number and s/m/h/d (30m, 2h, 7d) or 'never'")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Grant:
    id: str
    tool: str
    args_match: dict[str, Any]
    """Argument name -> a glob, a list of globs (any), or ``{"is": value}`` (see grant_match)."""
    args_digest: str | None
    created_at: float
    expires_at: float | None
    uses_left: int | None
    revoked_at: float | None
    created_by: str
    note: str

    @classmethod
    def from_row(cls, row: Any) -> Grant:
        return from_row(cls, row, args_match=json.loads)

    def active(self, now: float) -> bool:
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and (self.uses_left is None or self.uses_left > 0)
        )

    def covers(
        self, tool: str, args: dict[str, Any], digest: str, subject: GrantSubject | None = None
    ) -> bool:
        """Does this grant cover the call? ``subject`` (built by the gate) carries resolved paths; without
        it (a case file deciding what to display) paths are judged lexically, ``..`` never covered."""
        if not compile_name_glob(self.tool).match(tool):
            return False
        if self.args_digest is not None and self.args_digest != digest:
            return False
        subject = subject or GrantSubject(tool, args, digest, path_names=_LEGACY_PATHS)
        return all(constraint_matches(name, c, subject) for name, c in self.args_match.items())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "args_match": self.args_match,
            "args_digest": self.args_digest,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "uses_left": self.uses_left,
            "revoked_at": self.revoked_at,
            "created_by": self.created_by,
            "note": self.note,
        }


_USE = """
UPDATE grants SET uses_left = uses_left - 1
WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
  AND (uses_left IS NULL OR uses_left > 0)
"""


async def use_matching_grant(state: StateDB, subject: GrantSubject) -> str | None:
    """Spend one use of the first active grant covering this call; its id, or None."""
    now = time.time()
    # With a PostgreSQL store every server spends from the one table there (exactly once: _USE).
    db = state.shared.conn if getattr(state, "shared", None) is not None else state.conn
    cursor = await db.execute(
        "SELECT * FROM grants WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
        "ORDER BY created_at",
        (now,),
    )
    rows = await cursor.fetchall()
    for row in rows:
        grant = Grant.from_row(row)
        if grant.active(now) and grant.covers(subject.tool, subject.args, subject.digest, subject):
            spent = await db.execute(_USE, (grant.id, now))
            if spent.rowcount == 1:
                return grant.id
    return None


def add_grant(
    conn: sqlite3.Connection,
    *,
    tool: str,
    args_match: dict[str, Any] | None = None,
    args_digest: str | None = None,
    expires_in: float | None = 3600.0,
    uses: int | None = None,
    created_by: str,
    note: str = "",
) -> Grant:
    now = time.time()
    grant = Grant(
        id="g-" + uuid.uuid4().hex[:12],
        tool=tool,
        args_match=dict(args_match or {}),
        args_digest=args_digest,
        created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
        uses_left=uses,
        revoked_at=None,
        created_by=created_by,
        note=note,
    )
    conn.execute(
        "INSERT INTO grants (id, tool, args_match, args_digest, created_at, expires_at, uses_left, "
        "revoked_at, created_by, note) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        (
            grant.id,
            grant.tool,
            json.dumps(grant.args_match, sort_keys=True),
            grant.args_digest,
            grant.created_at,
            grant.expires_at,
            grant.uses_left,
            grant.created_by,
            grant.note,
        ),
    )
    return grant


def list_grants(conn: sqlite3.Connection, *, include_inactive: bool = False) -> list[Grant]:
    now = time.time()
    grants = [Grant.from_row(r) for r in conn.execute("SELECT * FROM grants ORDER BY created_at")]
    return grants if include_inactive else [g for g in grants if g.active(now)]


def revoke_grant(conn: sqlite3.Connection, grant_id: str) -> bool:
    cur = conn.execute(
        "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), grant_id)
    )
    return cur.rowcount == 1


# ---------------------------------------------------------------------------- checking a grant


@dataclass
class GrantCheck:
    errors: list[str]
    """Why the grant could never match as written (refused when created; flagged when listed)."""
    warnings: list[str]
    """Why it may cover more than the operator meant."""


def _close(word: str, names: list[str]) -> str:
    near = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(near)}?" if near else ""


def _exact_problem(name: str, value: Any, tools: list[Any]) -> str | None:
    """Why ``--is NAME=value`` could never equal what a call holds (None when it could)."""
    problems = []
    for tool in tools:
        try:
            TypeAdapter(tool.input_model.model_fields[name].annotation).validate_python(value, strict=True)
        except ValidationError as exc:
            problems.append(f"not a value {tool.name} takes ({exc.errors()[0].get('msg', 'invalid')})")
            continue
        if name in path_args(tool):
            values = value if isinstance(value, list) else [value]
            if any(not isinstance(v, str) or v.startswith("/") or ".." in v.split("/") for v in values):
                problems.append("a path is relative to a workspace root and has no '..'")
                continue
        return None
    return "; ".join(dict.fromkeys(problems))


def check_grant(
    registry: Registry,
    tool: str,
    args_match: dict[str, Any],
    *,
    exact: bool = False,
    expires: float | None = 0,
) -> GrantCheck:
    """A grant is checked like a rule: a known tool, known argument names, globs that can match."""
    errors: list[str] = []
    warnings: list[str] = []
    names = registry.names()
    covered = [t for t in registry if compile_name_glob(tool).match(t.name)]
    if not covered:
        errors.append(f"unknown tool {tool!r}{_close(tool, names)} (known tools: tollhouse tools)")
        return GrantCheck(errors, warnings)
    if len(covered) > 1:
        shown = ", ".join(t.name for t in covered[:6]) + (", ..." if len(covered) > 6 else "")
        warnings.append(f"{tool!r} covers {len(covered)} tools ({shown})")
    for name, constraint in args_match.items():
        having = [t for t in covered if name in t.input_model.model_fields]
        if not having:
            valid = sorted({f for t in covered for f in t.input_model.model_fields})
            errors.append(
                f"unknown argument {name!r} for {tool}{_close(name, valid)} (valid: {', '.join(valid)})"
            )
            continue
        if isinstance(constraint, dict):
            why = _exact_problem(name, constraint.get(EXACT), having)
            if why:
                errors.append(f"--is {name}={json.dumps(constraint.get(EXACT))}: {why}")
            continue  # an exact value that fits: equality cannot widen
        globs = [constraint] if isinstance(constraint, str) else constraint
        for glob in globs if isinstance(globs, list) else []:
            if any(name in path_args(t) for t in having):
                segments = glob.strip().split("/")
                if glob.strip().startswith("/") or ".." in segments:
                    errors.append(
                        f"--arg {name}={glob}: a path glob is relative to a workspace root and has no '..' "
                        "(grants match the call's resolved path, e.g. --arg 'path=src/**')"
                    )
                elif glob.strip() in ("", "**", "*") or segments[0] == "**":
                    warnings.append(f"--arg {name}={glob} covers any path")
                try:
                    compile_path_glob(glob)
                except (re.error, ValueError) as exc:  # GlobError is a ValueError
                    errors.append(f"--arg {name}={glob}: not a readable path glob ({exc})")
            elif name == "argv":
                try:
                    shlex.split(glob)
                except ValueError as exc:
                    errors.append(f"--arg argv={glob}: not a readable argv pattern ({exc})")
            elif glob.strip("*") == "":
                warnings.append(f"--arg {name}={glob} covers any value")
    if not args_match and not exact:
        warnings.append(f"no --arg or --exact: this covers every call of {tool}")
    if expires is None:
        warnings.append("--expires never: this grant lasts until revoked")
    return GrantCheck(errors, warnings)
