"""kill -9 in the middle of a call: the intent survives, the next start closes it as interrupted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import anyio

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.gate.conftest import make_config
from tollhouse.gate.gate import Gate
from tollhouse.receipts import verify_db


def _intents(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT call_id, kind FROM receipts WHERE tool='fx_sleep'").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def test_kill_9_mid_call_leaves_intent_closed_as_interrupted_next_start(workspace: Path) -> None:
    config = make_config(workspace)
    db = config.state_dir / "receipts.db"
    proc = subprocess.Popen(
        tollhouse_cmd("call", "fx_sleep", '{"seconds": 30}', "--no-prompt"),
        cwd=workspace, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not _intents(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _intents(db) and _intents(db)[0][1] == "intent", proc.stderr
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    ((call_id, _),) = _intents(db)

    async def reopen() -> None:
        async with await Gate.open(config):
            pass

    anyio.run(reopen)
    kinds = [k for c, k in _intents(db) if c == call_id]
    assert kinds == ["intent", "interrupted"]
    assert not (workspace / "sleep-finished").exists()
    assert verify_db(db).ok
