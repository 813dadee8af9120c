"""Fixtures for memory and case tests: a real state database, tool contexts, a receipts table."""

from __future__ import annotations

import sqlite3
import time
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tollhouse.gate.types import Call
from tollhouse.state.db import StateDB
from tollhouse.state.receipts_view import iso
from tollhouse.tools import build_registry
from tollhouse.tools.base import ToolContext
from tollhouse.workspace import Workspace

# The receipts table as the receipts store documents it (the columns this package reads).
RECEIPTS_DDL = """
CREATE TABLE IF NOT EXISTS receipts (
    seq INTEGER PRIMARY KEY, kind TEXT, call_id TEXT, time TEXT, tool TEXT, case_id TEXT, session TEXT,
    outcome TEXT, decision TEXT, rules TEXT, message TEXT, args_digest TEXT, arguments TEXT
);
CREATE INDEX IF NOT EXISTS receipts_case ON receipts(case_id, seq);
"""


class Receipts:
    """Writes receipts the way the gate does: an intent, then an outcome, per call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(RECEIPTS_DDL)
        self.n = 0

    def call(
        self,
        tool: str,
        *,
        case: str | None,
        session: str | None = "s1",
        outcome: str | None = "ok",
        message: str | None = None,
        at: float | None = None,
        digest: str | None = None,
        arguments: str | None = None,
    ) -> int:
        self.n += 1
        call_id = f"call-{self.n}"
        t = iso(at if at is not None else time.time())  # the store's RFC 3339 text
        if outcome == "needs_approval":  # the gate writes only an outcome: nothing ran, no intent
            cur = self.conn.execute(
                "INSERT INTO receipts (kind, call_id, time, tool, case_id, session, outcome, decision, "
                "message, args_digest, arguments) VALUES ('outcome', ?, ?, ?, ?, ?, ?, 'ask', ?, ?, ?)",
                (call_id, t, tool, case, session, outcome, message, digest, arguments),
            )
            return int(cur.lastrowid)
        self.conn.execute(
            "INSERT INTO receipts (kind, call_id, time, tool, case_id, session, outcome, decision, "
            "args_digest, arguments) VALUES ('intent', ?, ?, ?, ?, ?, NULL, 'allow', ?, ?)",
            (call_id, t, tool, case, session, digest, arguments),
        )
        if outcome is None:
            return int(self.conn.execute("SELECT max(seq) FROM receipts").fetchone()[0])
        cur = self.conn.execute(
            "INSERT INTO receipts (kind, call_id, time, tool, case_id, session, outcome, decision, message, "
            "args_digest, arguments) VALUES ('outcome', ?, ?, ?, ?, ?, ?, 'allow', ?, ?, ?)",
            (call_id, t, tool, case, session, outcome, message, digest, arguments),
        )
        return int(cur.lastrowid)


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateDB]:
    db = await StateDB.open(tmp_path / ".tollhouse" / "state.db")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def receipts(tmp_path: Path) -> Receipts:
    r = Receipts(tmp_path / ".tollhouse" / "receipts.db")
    yield r
    r.conn.close()


REGISTRY = build_registry(["memory", "cases"])


async def run_tool(state: StateDB, name: str, arguments: dict[str, Any], **call: Any) -> Any:
    """Run a tool as the gate would: validate the arguments with its model, build a context, run."""
    tool = REGISTRY.get(name)
    assert tool is not None
    args = tool.input_model.model_validate(arguments)
    ctx = ToolContext(
        call=Call(tool=name, arguments=arguments, **call),
        tool=tool,
        workspace=Workspace([Path(state.path).parent.parent]),
        services=types.SimpleNamespace(state=state),
    )
    return await tool.run(args, ctx)
