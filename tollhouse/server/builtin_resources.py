"""tollhouse's own resources: the effective policy and the receipts.

Receipts are read from ``.tollhouse/receipts.db`` through a separate read-only SQLite connection
(``mode=ro``), in a worker thread: a reader can never write to the chain, and a slow read never
blocks the writer (WAL lets both run).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio

from tollhouse.server.resources import ResourceNotFound, ResourceRequest, ResourceSpec
from tollhouse.tools.base import ToolError

RECENT_LIMIT = 50
_JSON_FIELDS = ("credentials", "rules", "details", "arguments")


def _db_path(gate: Any) -> Path:
    store = gate.services.receipts
    path = getattr(store, "db_path", None)
    return Path(path) if path is not None else Path(gate.services.config.state_dir) / "receipts.db"


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for name in _JSON_FIELDS:
        if isinstance(out.get(name), str):
            try:
                out[name] = json.loads(out[name])
            except ValueError:
                pass  # shown as stored; `tollhouse receipts verify` reports damage
    return out


def _query(db: Path, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        conn.row_factory = sqlite3.Row
        return [_decode(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


async def read_policy(req: ResourceRequest) -> Any:
    policy = req.gate.policy
    data = policy.to_json() if hasattr(policy, "to_json") else {"sha256": getattr(policy, "sha256", None)}
    return req.gate.services.redactor.redact(data)


async def read_recent(req: ResourceRequest) -> Any:
    rows = await anyio.to_thread.run_sync(
        _query, _db_path(req.gate), "SELECT * FROM receipts ORDER BY seq DESC LIMIT ?", (RECENT_LIMIT,)
    )
    return {"receipts": rows, "limit": RECENT_LIMIT}


async def read_one(req: ResourceRequest) -> Any:
    raw = req.params["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ToolError(f"receipt id {raw!r} is not a sequence number; read tollhouse://receipts/recent")
    rows = await anyio.to_thread.run_sync(
        _query, _db_path(req.gate), "SELECT * FROM receipts WHERE seq = ?", (int(raw),)
    )
    if not rows:
        raise ResourceNotFound(req.uri)
    return rows[0]


RESOURCES = [
    ResourceSpec(
        uri="tollhouse://policy",
        name="policy",
        title="Effective policy",
        description="The rules in force (redacted), with the policy's sha256 that every receipt names.",
        read=read_policy,
    ),
    ResourceSpec(
        uri="tollhouse://receipts/recent",
        name="receipts-recent",
        title="Recent receipts",
        description=f"The latest {RECENT_LIMIT} receipts, newest first.",
        read=read_recent,
    ),
    ResourceSpec(
        uri="tollhouse://receipts/{id}",
        name="receipt",
        title="One receipt",
        description="One receipt by its sequence number.",
        read=read_one,
    ),
]
