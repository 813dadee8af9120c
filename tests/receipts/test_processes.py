"""Real OS processes: two writers on one database, a writer killed by SIGKILL, a live writer."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.receipts.conftest import row
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry, verify_db
from tollhouse.receipts.process import current_identity, is_alive

pytestmark = pytest.mark.anyio


def helper(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.receipts.proc_helper", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=Path(__file__).resolve().parents[2],
    )


async def test_two_processes_appending_concurrently_keep_one_chain(state_dir: Path) -> None:
    store = await ReceiptStore.open(
        state_dir, redactor=Redactor()
    )  # create the db and key first, then let both race
    await store.close()
    procs = [helper("append", str(state_dir), "400") for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.wait(timeout=30) == 0
    finally:
        for p in procs:
            p.kill()
            p.wait()
    result = verify_db(state_dir / "receipts.db")
    assert result.ok, result.reason
    assert result.count == 800
    conn = sqlite3.connect(state_dir / "receipts.db")
    per_process = dict(conn.execute("SELECT process, count(*) FROM receipts GROUP BY process").fetchall())
    assert sorted(per_process.values()) == [400, 400]
    assert [r[0] for r in conn.execute("SELECT seq FROM receipts ORDER BY seq")] == list(range(1, 801))
    # Both processes wrote at once: their entries interleave in the chain.
    order = [r[0] for r in conn.execute("SELECT process FROM receipts ORDER BY seq")]
    assert sum(1 for a, b in itertools.pairwise(order) if a != b) > 1


async def test_sigkill_mid_call_leaves_an_intent_that_the_next_start_closes(state_dir: Path) -> None:
    proc = helper("crash", str(state_dir))
    intent_seq = int(proc.stdout.readline())
    assert proc.wait(timeout=30) == -signal.SIGKILL
    conn = sqlite3.connect(state_dir / "receipts.db")
    assert row(conn, intent_seq)["kind"] == "intent"  # durable before the "tool" ran
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    closed = await store.recover_interrupted()
    assert closed == [intent_seq + 1]
    assert await store.recover_interrupted() == []  # never closed twice
    await store.close()
    entry = row(conn, intent_seq + 1)
    assert (entry["kind"], entry["outcome"], entry["call_id"], entry["tool"]) == (
        "interrupted",
        "interrupted",
        "doomed-call",
        "shell_run",
    )
    assert f'"intent_seq":{intent_seq}' in entry["details"]
    assert verify_db(state_dir / "receipts.db").ok


async def test_intents_of_a_live_process_stay_open(state_dir: Path) -> None:
    proc = helper("live", str(state_dir))
    try:
        assert proc.stdout.readline().strip() == "written"
        store = await ReceiptStore.open(state_dir, redactor=Redactor())
        assert await store.recover_interrupted() == []  # that server is still running the call
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        closed = await store.recover_interrupted()  # now it ended without an outcome
        await store.close()
    finally:
        proc.kill()
        proc.wait()
    assert len(closed) == 1
    assert verify_db(state_dir / "receipts.db").ok


async def test_liveness_rules(state_dir: Path) -> None:
    host, pid, start = current_identity().split(":")
    assert is_alive(current_identity())
    assert not is_alive(f"{host}:{pid}:{start}x")  # same pid, other start: the pid was reused
    assert is_alive(f"another-host-{host}:{pid}:{start}")  # cannot tell: never close it
    assert is_alive("garbage")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not is_alive(f"{host}:{dead.pid}:?")


async def test_recover_skips_own_and_foreign_intents_and_closes_reused_pid(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    host = socket.gethostname()
    await store.append(make_entry("intent", "mine", tool="t"))  # this live process
    await store.append(make_entry("intent", "other-host", tool="t", process=f"elsewhere:{os.getpid()}:1-1"))
    reused = await store.append(make_entry("intent", "reused", tool="t", process=f"{host}:{os.getpid()}:0-0"))
    await store.append(make_entry("intent", "done", tool="t", process=f"{host}:1:0-0"))
    await store.append(make_entry("outcome", "done", tool="t", outcome="ok"))
    closed = await store.recover_interrupted()
    await store.close()
    conn = sqlite3.connect(state_dir / "receipts.db")
    assert [row(conn, s)["call_id"] for s in closed] == ["reused"]
    assert reused.seq < closed[0]


async def test_recovery_reads_only_intents_above_its_mark(state_dir: Path) -> None:
    host = socket.gethostname()
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    dead = f"{host}:1:0-0"  # pid 1 with another start time: a process that is gone
    first = await store.append(make_entry("intent", "first", tool="t", process=dead))
    assert await store.recover_interrupted() == [first.seq + 1]  # closed, and the mark moves past it
    conn = sqlite3.connect(state_dir / "receipts.db")
    (mark,) = conn.execute("SELECT closed_through FROM recovery").fetchone()
    assert mark == first.seq  # the head when recovery ran: everything up to it is closed
    live = await store.append(make_entry("intent", "live", tool="t"))  # this process: still running
    second = await store.append(make_entry("intent", "second", tool="t", process=dead))
    assert await store.recover_interrupted() == [second.seq + 1]
    (mark,) = conn.execute("SELECT closed_through FROM recovery").fetchone()
    assert mark == live.seq - 1  # held below the call that is still open
    # Above the mark is all recovery reads: an open dead intent below it (only a forged mark could
    # put one there) is left alone, which is why the mark is set only after everything below it closed.
    third = await store.append(make_entry("intent", "third", tool="t", process=dead))
    with conn:
        conn.execute("UPDATE recovery SET closed_through = ?", (third.seq,))
    assert await store.recover_interrupted() == []
    await store.close()
    assert verify_db(state_dir / "receipts.db").ok
