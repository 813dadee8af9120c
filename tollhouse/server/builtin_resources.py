"""tollhouse's own resources: the effective policy and the receipts.

Receipts come from ``tollhouse.receipts``' read API: a separate read-only SQLite connection, run in a
worker thread, so a reader can never write to the chain and a slow read never blocks the writer.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio

from tollhouse.receipts import DB_NAME, ReceiptStoreError, get_receipt, read_receipts
from tollhouse.server.resources import ResourceNotFound, ResourceRequest, ResourceSpec
from tollhouse.tools.base import ToolError

RECENT_LIMIT = 50
BRIEF_CHARS = 1000
"""In the recent list, longer strings inside arguments and details are cut: fifty receipts of large
file writes would otherwise make a listing of many megabytes, too big for a model's context and for
one HTTP event. ``tollhouse://receipts/{seq}`` still returns the whole entry."""
_ID = re.compile(r"^(?:[0-9]{1,18}|[0-9a-f]{32})$")


def _db_path(gate: Any) -> Any:
    """This server's receipts: on PostgreSQL its own log in the store (``store/source.py``)."""
    source = getattr(getattr(gate.services, "receipts", None), "source", None)
    return source if source is not None else Path(gate.services.config.state_dir) / DB_NAME


async def read_policy(req: ResourceRequest) -> Any:
    policy = req.gate.policy
    data = policy.to_json() if hasattr(policy, "to_json") else {"sha256": getattr(policy, "sha256", None)}
    return req.gate.services.redactor.redact(data)


async def read_recent(req: ResourceRequest) -> Any:
    try:
        rows = await anyio.to_thread.run_sync(lambda: read_receipts(_db_path(req.gate), limit=RECENT_LIMIT))
    except ReceiptStoreError as exc:
        raise ToolError(str(exc)) from exc
    for row in rows:
        for field in ("arguments", "details"):
            row[field] = _brief(row.get(field), row.get("seq"))
    return {
        "receipts": rows,
        "limit": RECENT_LIMIT,
        "note": f"strings over {BRIEF_CHARS} characters in arguments and details are cut here; "
        "tollhouse://receipts/{seq} has the whole entry",
    }


def _brief(value: Any, seq: Any) -> Any:
    if isinstance(value, str):
        if len(value) <= BRIEF_CHARS:
            return value
        return value[:BRIEF_CHARS] + f"… [{len(value)} characters; whole: tollhouse://receipts/{seq}]"
    if isinstance(value, dict):
        return {k: _brief(v, seq) for k, v in value.items()}
    if isinstance(value, list):
        return [_brief(v, seq) for v in value]
    return value


async def read_one(req: ResourceRequest) -> Any:
    raw = req.params["id"]
    if not _ID.match(raw):
        raise ToolError(
            f"{raw!r} is neither a receipt sequence number nor a call id; read tollhouse://receipts/recent"
        )
    key: int | str = int(raw) if raw.isdigit() and len(raw) < 32 else raw
    try:
        row = await anyio.to_thread.run_sync(lambda: get_receipt(_db_path(req.gate), key))
    except ReceiptStoreError as exc:
        raise ToolError(str(exc)) from exc
    if row is None:
        raise ResourceNotFound(req.uri)
    return row


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
        description="One receipt by its sequence number, or the latest receipt of a call by its call id.",
        read=read_one,
    ),
]
