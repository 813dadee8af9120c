"""Memory as JSONL: export every fact with its history, import ours or the reference memory server's.

Our lines are ``{"kind": "fact", ...}`` (``Fact.to_json`` plus ``kind``). The reference memory MCP
server's graph lines are ``{"type": "entity", "name", "entityType", "observations"}`` and
``{"type": "relation", "from", "to", "relationType"}``; they map to facts as follows:

- entity  -> ``name · type · entityType``, plus one free-text fact ``name · observation`` per observation
- relation -> ``from · relationType · to``, tagged ``relation`` and ``multi`` (several are normal)

An import is one transaction: a bad line stops it with its line number and nothing is stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from tollhouse.state.db import StateDB
from tollhouse.state.memory import (
    STATUSES,
    Fact,
    FactInputError,
    _insert,
    check_fact,
    normalize_tags,
)
from tollhouse.state.memory_query import MULTI_TAG

MAX_LINE = 64 * 1024


async def export_facts(state: StateDB) -> AsyncIterator[dict[str, Any]]:
    """Every fact, through the state's redactor once more: rows written before redaction covered
    every write (or by an older tollhouse) must not leave in an export."""
    async with state.store.conn.execute("SELECT * FROM facts ORDER BY id") as cur:
        async for row in cur:
            yield state.redactor.redact({"kind": "fact", **Fact.from_row(row).to_json()})


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "duplicates": self.duplicates, "by_kind": self.by_kind}


@dataclass
class _PlannedFact:
    subject: str
    predicate: str
    object: str = ""
    text: str = ""
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    author: str | None = None
    status: str | None = None
    created_at: float | None = None
    old_id: int | None = None
    old_supersedes: int | None = None


def _str(obj: dict[str, Any], key: str, lineno: int, *, required: bool = True) -> str:
    value = obj.get(key, "" if not required else None)
    if not isinstance(value, str) or (required and not value.strip()):
        raise FactInputError(f"line {lineno}: {key!r} must be a non-empty string")
    return value


def _plan_line(obj: Any, lineno: int) -> tuple[str, list[_PlannedFact]]:
    if not isinstance(obj, dict):
        raise FactInputError(f"line {lineno}: expected a JSON object")
    kind = obj.get("type") or obj.get("kind")
    if kind == "entity":
        name = _str(obj, "name", lineno)
        planned = []
        etype = obj.get("entityType")
        if isinstance(etype, str) and etype.strip():
            planned.append(_PlannedFact(name, "type", object=etype))
        observations = obj.get("observations", [])
        if not isinstance(observations, list) or not all(isinstance(o, str) for o in observations):
            raise FactInputError(f"line {lineno}: 'observations' must be a list of strings")
        planned += [_PlannedFact(name, "observation", text=o) for o in observations if o.strip()]
        return "entity", planned
    if kind == "relation":
        return "relation", [
            _PlannedFact(
                _str(obj, "from", lineno),
                _str(obj, "relationType", lineno),
                object=_str(obj, "to", lineno),
                tags=["relation", MULTI_TAG],
            )
        ]
    if kind == "fact":
        tags = obj.get("tags", [])
        if not isinstance(tags, list):
            raise FactInputError(f"line {lineno}: 'tags' must be a list")
        status = obj.get("status", "accepted")
        if status not in STATUSES:
            raise FactInputError(f"line {lineno}: status must be one of {', '.join(STATUSES)}")
        source = obj.get("source")
        return "fact", [
            _PlannedFact(
                _str(obj, "subject", lineno),
                _str(obj, "predicate", lineno),
                object=_str(obj, "object", lineno, required=False),
                text=_str(obj, "text", lineno, required=False),
                tags=tags,
                source=source if isinstance(source, str) else None,
                author=obj.get("author") if isinstance(obj.get("author"), str) else None,
                status=status,
                created_at=obj.get("created_at") if isinstance(obj.get("created_at"), int | float) else None,
                old_id=obj.get("id") if isinstance(obj.get("id"), int) else None,
                old_supersedes=obj.get("supersedes") if isinstance(obj.get("supersedes"), int) else None,
            )
        ]
    raise FactInputError(
        f"line {lineno}: unknown record {kind!r}; expected type entity/relation (reference memory graph) "
        "or kind fact (tollhouse export)"
    )


async def _is_duplicate(conn: aiosqlite.Connection, p: _PlannedFact, status: str) -> bool:
    async with conn.execute(
        "SELECT 1 FROM facts WHERE subject = ? AND predicate = ? AND object = ? AND text = ? AND status = ? "
        "LIMIT 1",
        (p.subject, p.predicate, p.object, p.text, status),
    ) as cur:
        return await cur.fetchone() is not None


async def import_jsonl(
    state: StateDB, lines: Iterable[str], *, author: str, status: str = "accepted", source: str | None = None
) -> ImportReport:
    """Import JSONL lines. Graph records take ``status``; tollhouse exports keep their own status and
    history (supersede links are renumbered). Facts already present with the same status are skipped."""
    if status not in ("proposed", "accepted"):
        raise FactInputError("imported graph facts are proposed or accepted")
    plans: list[tuple[str, _PlannedFact]] = []
    for lineno, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE:
            raise FactInputError(f"line {lineno} is longer than {MAX_LINE} characters")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FactInputError(f"line {lineno} is not JSON: {exc.msg}") from exc
        kind, planned = _plan_line(obj, lineno)
        for p in planned:
            try:
                check_fact(p.subject, p.predicate, p.object, p.text, p.source)
                p.tags = normalize_tags(p.tags)
            except FactInputError as exc:
                raise FactInputError(f"line {lineno}: {exc}") from exc
            plans.append((kind, p))
    report = ImportReport()
    now = time.time()
    id_map: dict[int, int] = {}
    async with state.store.write() as conn:
        for kind, p in plans:
            fact_status = p.status or status
            if await _is_duplicate(conn, p, fact_status):
                report.duplicates += 1
                continue
            new_id = await _insert(
                conn,
                subject=p.subject,
                predicate=p.predicate,
                obj=p.object,
                text=p.text,
                tags=p.tags,
                source=p.source or source,
                author=p.author or author,
                status=fact_status,
                supersedes=id_map.get(p.old_supersedes) if p.old_supersedes else None,
                now=now,
                created_at=p.created_at,
            )
            if p.old_id is not None:
                id_map[p.old_id] = new_id
            report.imported += 1
            report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
        # Re-link superseded facts to their (renumbered) successors.
        for old_new in id_map.values():
            async with conn.execute(
                "SELECT supersedes FROM facts WHERE id = ? AND supersedes IS NOT NULL", (old_new,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None:
                await conn.execute(
                    "UPDATE facts SET superseded_by = ? WHERE id = ? AND status = 'superseded'",
                    (old_new, row[0]),
                )
    return report
