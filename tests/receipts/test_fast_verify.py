"""Verify's fast path (SQLite writes each row's canonical JSON; the second half in a second process)
must decide exactly as the slow path (the Python encoder, one process) on every store, good or bad.

Entries are generated with every ASCII character, characters of each UTF-8 length, big integers and
nested arguments, appended through the real store, then verified three ways and compared."""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from tests.receipts.conftest import attacker, row, write_row
from tollhouse.gate.redact import Redactor
from tollhouse.receipts import ReceiptStore, make_entry, parallel, verify, verify_db
from tollhouse.receipts.sqljson import canonical_select, sqlite_agrees
from tollhouse.receipts.verifier import SORTED_FIELDS, VERIFY_COLUMNS, _encode

_CHARS = [chr(c) for c in range(128)] + [
    "\u00e9", "\u00ff", "\u0100", "\u07ff", "\u0800", "\u20ac", "\u2028", "\u2029", "\ud7ff",
    "\ue000", "\ufeff", "\ufffd", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "\u0394",
]  # fmt: skip
_BIG = 2**53 - 1


def _text(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, n)))


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice([0, -1, 1, _BIG, -_BIG, rng.randint(-_BIG, _BIG)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice([1.5, -0.25, 3.0, 1e-3])  # floats in arguments are canonicalised text
    if kind == 4:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng, 6): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _entry(rng: random.Random, i: int) -> dict:
    kind = rng.choice(["intent", "outcome", "event"])
    return make_entry(
        kind,
        f"call-{i}-{_text(rng, 4)}",
        tool=_text(rng),
        outcome="ok" if kind == "outcome" else None,
        channel=rng.choice([None, _text(rng)]),
        client=_text(rng, 30),
        session=rng.choice([None, "s\u00e9ance"]),
        arguments={"v": _value(rng), _text(rng, 5): _value(rng)},
        duration_us=rng.choice([None, 0, _BIG, -_BIG, rng.randint(-_BIG, _BIG)]),
        excerpt=_text(rng, 80),
        message=_text(rng, 20),
        details={"n": rng.randint(-_BIG, _BIG), _text(rng, 4): [_text(rng)]},
    )


async def _fill(state_dir: Path, n: int, seed: int, checkpoint_every: int = 7) -> None:
    rng = random.Random(seed)
    store = await ReceiptStore.open(state_dir, redactor=Redactor(), checkpoint_every=checkpoint_every)
    for i in range(n):
        await store.append(_entry(rng, i))
    await store.close()


def _three_ways(db: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> list:
    """(slow, fast in one process, fast over two processes) results, with their resume states."""
    out = []
    for mode in ("slow", "serial", "parallel"):
        with monkeypatch.context() as m:
            if mode == "slow":
                m.setattr(verify, "sqlite_agrees", lambda conn: False)
            m.setattr(parallel, "PARALLEL_MIN", 1 if mode == "parallel" else 10**9)
            result = verify_db(db, **kw)  # type: ignore[arg-type]
        out.append((result, result.state))
    return out


@pytest.fixture
def generated(state_dir: Path) -> Path:
    asyncio.run(_fill(state_dir, 240, seed=14))
    return state_dir / "receipts.db"


def test_this_sqlite_writes_what_the_encoder_writes() -> None:
    assert sqlite_agrees(sqlite3.connect(":memory:")) is False  # no receipts table: no guarantee
    conn = sqlite3.connect(":memory:")
    from tollhouse.receipts.schema import DDL

    conn.executescript(DDL)
    assert sqlite_agrees(conn) is True


def test_sqlite_text_equals_encoder_text_row_by_row(generated: Path) -> None:
    conn = sqlite3.connect(generated)
    fast = conn.execute(canonical_select(SORTED_FIELDS), (0,)).fetchall()
    slow = conn.execute(f"SELECT {VERIFY_COLUMNS} FROM receipts ORDER BY seq").fetchall()
    assert len(fast) == len(slow) == 240
    non_ascii = 0
    for (text, seq, prev, stored), values in zip(fast, slow, strict=True):
        assert text == _encode(dict(zip(SORTED_FIELDS, values[:-1], strict=True)))
        assert hashlib.sha256(text.encode()).hexdigest() == stored == values[-1]
        non_ascii += not text.isascii()
    assert non_ascii > 200  # the generator did reach past ASCII


def test_fast_and_parallel_equal_slow_on_a_good_store(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (slow, s_state), (serial, f_state), (par, p_state) = _three_ways(generated, monkeypatch)
    assert slow.ok and slow.count == 240 and slow.last_checkpoint_seq == 240
    assert slow == serial == par
    assert s_state == f_state == p_state


def test_resume_fast_equals_slow(generated: Path, monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> None:
    state = verify_db(generated).state
    asyncio.run(_fill(state_dir, 50, seed=15))
    (slow, s_state), (serial, f_state), (par, p_state) = _three_ways(generated, monkeypatch, resume=state)
    assert slow.ok and slow.resumed_from == 240 and slow.count == 290
    assert slow == serial == par and s_state == f_state == p_state


def _forge_last(db: Path, **changes: object) -> None:
    """Append an entry that copies the last one with ``changes``, hashed over SQLite's JSON of it."""
    conn = attacker(db)
    last = row(conn, conn.execute("SELECT max(seq) FROM receipts").fetchone()[0])
    entry = last | {"seq": last["seq"] + 1, "prev_hash": last["hash"], "hash": "0" * 64}
    write_row(conn, entry)
    conn.execute("UPDATE receipts SET " + ", ".join(f"{k} = ?" for k in changes) + " WHERE seq = ?",
                 (*changes.values(), entry["seq"]))  # fmt: skip
    (text,) = conn.execute(
        canonical_select(SORTED_FIELDS).replace("CASE WHEN", "CASE WHEN 1 OR") + " LIMIT 1",
        (entry["seq"] - 1,),
    ).fetchone()[:1]
    forged = hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
    conn.execute("UPDATE receipts SET hash = ? WHERE seq = ?", (forged.hexdigest(), entry["seq"]))


@pytest.mark.parametrize(
    "changes",
    [
        {"duration_us": 1e20},  # REAL: SQLite writes 1.0e+20, Python 1e+20
        {"duration_us": 2.0**60},
        {"duration_us": "120"},  # text in an INTEGER column
        {"tool": "shell_run"},
        {"message": "\x00\x1f\x7f\u2028"},
    ],
)
def test_forged_unsigned_tail_decided_alike(
    generated: Path, monkeypatch: pytest.MonkeyPatch, changes: dict
) -> None:
    """An attacker appends an entry whose hash matches SQLite's JSON of it; only the tail that no
    checkpoint covers is at stake (require_head=False). All three paths must agree."""
    _forge_last(generated, **changes)
    results = _three_ways(generated, monkeypatch, require_head=False)
    assert results[0][0] == results[1][0] == results[2][0]
    if changes.get("duration_us") == 1e20:  # stays REAL; 2.0**60 becomes an INTEGER (affinity)
        assert not results[0][0].ok and results[0][0].first_bad_seq == 241


def test_blob_and_undecodable_text_fall_back(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = attacker(generated)
    conn.execute("UPDATE receipts SET excerpt = CAST(x'41ff' AS TEXT) WHERE seq = 200")
    first = _three_ways(generated, monkeypatch)
    assert not first[0][0].ok and first[0][0].first_bad_seq == 200
    assert first[0][0] == first[1][0] == first[2][0]
    conn.execute("UPDATE receipts SET excerpt = x'00ff' WHERE seq = 200")
    second = _three_ways(generated, monkeypatch)
    assert not second[0][0].ok and second[0][0].first_bad_seq == 200
    assert second[0][0] == second[1][0] == second[2][0]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE receipts SET tool = 'x' WHERE seq = {s}",
        "DELETE FROM receipts WHERE seq = {s}",
        "UPDATE receipts SET prev_hash = hash WHERE seq = {s}",
        "UPDATE notes SET note = replace(note, '\n', '\n\n') WHERE size > {s}",
        "DELETE FROM notes WHERE size > {s}",
        "DELETE FROM receipts WHERE seq >= {s}",
    ],
)
@pytest.mark.parametrize("seq", [3, 120, 121, 200, 240])
def test_tampering_in_either_half_decided_alike(
    generated: Path, monkeypatch: pytest.MonkeyPatch, sql: str, seq: int
) -> None:
    attacker(generated).execute(sql.format(s=seq))
    results = _three_ways(generated, monkeypatch)
    assert results[0][0] == results[1][0] == results[2][0]
    assert not results[0][0].ok or (seq == 240 and "notes" in sql)  # no checkpoint after the last entry


def test_other_declared_types_take_the_slow_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table rebuilt with other column types (so other affinities) is never judged by SQLite's JSON."""
    src = tmp_path / "a"
    asyncio.run(_fill(src, 30, seed=3))
    conn = attacker(src / "receipts.db")
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'receipts'").fetchone()[0]
    conn.execute("ALTER TABLE receipts RENAME TO old")
    conn.execute(ddl.replace("duration_us INTEGER", "duration_us"))
    conn.execute("INSERT INTO receipts SELECT * FROM old")
    conn.execute("DROP TABLE old")
    assert sqlite_agrees(conn) is False
    results = _three_ways(src / "receipts.db", monkeypatch)
    assert results[0][0].ok and results[0][0] == results[1][0] == results[2][0]


def test_no_second_process_still_verifies(generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When no second interpreter can start, the fast path runs in this one; a child that dies or
    says nothing sends verify to the slow path. Both give the slow path's result."""
    expected = verify_db(generated)
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parallel.sys, "executable", str(generated.parent / "no-such-python"))
    assert verify_db(generated) == expected
    monkeypatch.setattr(parallel.sys, "executable", "/bin/true")  # exits 0, writes nothing
    assert verify_db(generated) == expected


@pytest.mark.parametrize("min_entries", [10**9, 1])
def test_a_good_store_never_reaches_the_slow_path(
    generated: Path, monkeypatch: pytest.MonkeyPatch, min_entries: int
) -> None:
    """The comparisons above would hold trivially if the fast path always gave up: it must not."""
    from tollhouse.receipts.verifier import Verifier

    joined: list[bool] = []
    join = Verifier.join_range

    def spy(self: Verifier, part: dict, last: int) -> bool:
        joined.append(join(self, part, last))
        return joined[-1]

    def slow(*args: object, **kw: object) -> None:
        raise AssertionError("the slow path ran on a good store")

    monkeypatch.setattr(parallel, "PARALLEL_MIN", min_entries)
    monkeypatch.setattr(Verifier, "join_range", spy)
    monkeypatch.setattr(verify, "verify_rows", slow)
    result = verify_db(generated)
    assert result.ok and result.count == 240
    assert joined == ([True] if min_entries == 1 else [])
