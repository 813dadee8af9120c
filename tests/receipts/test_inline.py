"""The event-loop write path: group commit in one loop tick, and a held lock never stalls the loop."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import anyio
import pytest

from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry, verify_db

pytestmark = pytest.mark.anyio


async def test_appends_in_one_tick_share_one_commit(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    receipts = []

    async def one(i: int) -> None:
        receipts.append(await store.append(make_entry("event", f"c{i}", tool="t")))

    async with anyio.create_task_group() as tg:
        for i in range(32):
            tg.start_soon(one, i)
    await store.close()
    assert sorted(r.seq for r in receipts) == list(range(1, 33))
    # The first append of the iteration commits at once; the 31 behind it share one transaction,
    # which stamps one time.
    by_seq = sorted(receipts, key=lambda r: r.seq)
    assert len({r.time for r in by_seq[1:]}) == 1 and by_seq[0].time < by_seq[1].time
    assert verify_db(state_dir / "receipts.db").ok


async def test_a_lone_append_commits_in_the_callers_turn(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    ran: list[str] = []

    async def other() -> None:
        ran.append("other task")

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await anyio.sleep(0)  # let the loop go round: the store is quiet
        ran.clear()
        tg.start_soon(other)  # ready to run as soon as this task yields
        await store.append(make_entry("event", "alone", tool="t"))
        ran.append("committed")
    await store.close()
    assert ran == ["committed", "other task"]  # the commit did not wait for the loop


async def test_a_lock_held_elsewhere_defers_to_the_writer_thread_without_stalling_the_loop(
    state_dir: Path,
) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    await store.append(make_entry("event", "before", tool="t"))
    other = sqlite3.connect(state_dir / "receipts.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, mid-transaction
    release_at = time.monotonic() + 0.4
    threading.Timer(0.4, lambda: other.execute("COMMIT")).start()

    ticks = 0
    done = anyio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        receipt = await store.append(make_entry("event", "during", tool="t"))
        done.set()
    assert time.monotonic() >= release_at - 0.05  # it waited for the lock...
    assert ticks >= 20  # ...while the loop kept running other work
    assert receipt.seq == 2
    await store.close()
    other.close()
    assert verify_db(state_dir / "receipts.db").ok


async def test_full_synchronous_mode_uses_the_writer_thread(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor(), synchronous="full")
    assert store._inline is None
    r = await store.append(make_entry("event", "x", tool="t"))
    await store.close()
    assert r.seq == 1 and verify_db(state_dir / "receipts.db").ok


async def test_entries_appended_right_before_close_are_written(state_dir: Path) -> None:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    results = []

    async def late() -> None:
        results.append(await store.append(make_entry("event", "late", tool="t")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(late)
        await anyio.sleep(0)
        await store.close()
    assert results and verify_db(state_dir / "receipts.db").count == 1


async def test_a_head_moved_by_another_writer_is_noticed_and_the_chain_stays_whole(state_dir: Path) -> None:
    """The one-statement append only lands on the head it hashed against; when another store (here
    a second one on the same file, as a second server would be) has appended meanwhile, it falls back
    to reading the head inside a transaction."""
    first = await ReceiptStore.open(state_dir, redactor=Redactor())
    second = await ReceiptStore.open(state_dir, redactor=Redactor())
    a = await first.append(make_entry("event", "a", tool="t"))
    b = await first.append(make_entry("event", "b", tool="t"))  # first now caches head = b
    c = await second.append(make_entry("event", "c", tool="t"))
    d = await first.append(make_entry("event", "d", tool="t"))  # its cached head is stale
    await first.close()
    await second.close()
    assert [a.seq, b.seq, c.seq, d.seq] == [1, 2, 3, 4]
    result = verify_db(state_dir / "receipts.db")
    assert result.ok and result.count == 4, result.reason
