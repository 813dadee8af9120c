"""Memory facts: what agents and people know, kept with its history.

A fact is ``subject predicate object`` (or a free-text observation about a subject), with tags, a
source and an author. Agents *propose*; a person accepts or rejects. Nothing is deleted: a fact that
replaces another marks the old one ``superseded`` and links both ways, so the history stays readable
with plain ``sqlite3``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiosqlite

from tollhouse.state.changes import case_changed
from tollhouse.state.db import StateDB, from_row, words

STATUSES = ("proposed", "accepted", "rejected", "superseded")

# Documented in docs/memory.md; a memory is a note, not a file store.
SUBJECT_MAX = 256
PREDICATE_MAX = 128
OBJECT_MAX = 4096
TEXT_MAX = 16384
SOURCE_MAX = 1024
TAGS_MAX = 16
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9:._/-]{0,63}$")


class FactInputError(ValueError):
    """A fact or query that cannot be stored or run; the message says what to change."""


@dataclass(frozen=True)
class Fact:
    id: int
    subject: str
    predicate: str
    object: str
    text: str
    tags: list[str]
    source: str | None
    author: str
    status: str
    supersedes: int | None
    superseded_by: int | None
    reviewed_by: str | None
    review_note: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> Fact:
        return from_row(cls, row, tags=words)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        body = self.object or self.text
        tags = f"  [{' '.join(self.tags)}]" if self.tags else ""
        return f"#{self.id} {self.subject} · {self.predicate} · {body}{tags}"


def normalize_tags(tags: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not TAG_RE.match(tag):
            raise FactInputError(
                f"tag {raw!r} is not valid: use 1-64 characters of a-z 0-9 : . _ / - starting with a letter "
                "or digit"
            )
        if tag not in out:
            out.append(tag)
    if len(out) > TAGS_MAX:
        raise FactInputError(f"a fact has at most {TAGS_MAX} tags; {len(out)} were given")
    return out


def _check_len(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise FactInputError(
            f"{name} is {len(value)} characters, over the limit of {limit}; store a summary and put the "
            "full text in a file, then cite it as the source"
        )


def check_fact(subject: str, predicate: str, obj: str, text: str, source: str | None) -> None:
    if not subject.strip() or not predicate.strip():
        raise FactInputError("subject and predicate must not be empty")
    if not obj.strip() and not text.strip():
        raise FactInputError("a fact needs an object or a text")
    _check_len("subject", subject, SUBJECT_MAX)
    _check_len("predicate", predicate, PREDICATE_MAX)
    _check_len("object", obj, OBJECT_MAX)
    _check_len("text", text, TEXT_MAX)
    if source is not None:
        _check_len("source", source, SOURCE_MAX)
    for name, value in (("subject", subject), ("predicate", predicate), ("object", obj), ("text", text)):
        if "\x00" in value:
            raise FactInputError(f"{name} contains a NUL character")


async def _fetch(conn: aiosqlite.Connection, fact_id: int) -> Fact | None:
    async with conn.execute("SELECT * FROM facts WHERE id = ?", (fact_id,)) as cur:
        row = await cur.fetchone()
    return Fact.from_row(row) if row else None


async def get_fact(state: StateDB, fact_id: int) -> Fact | None:
    return await _fetch(state.store.conn, fact_id)


async def history(state: StateDB, fact_id: int) -> list[Fact]:
    """The fact and every fact it superseded or was superseded by, oldest first."""
    fact = await get_fact(state, fact_id)
    if fact is None:
        return []
    chain = [fact]
    seen = {fact.id}
    back = fact
    while back.supersedes is not None and back.supersedes not in seen:
        prev = await get_fact(state, back.supersedes)
        if prev is None:
            break
        chain.insert(0, prev)
        seen.add(prev.id)
        back = prev
    fwd = fact
    while fwd.superseded_by is not None and fwd.superseded_by not in seen:
        nxt = await get_fact(state, fwd.superseded_by)
        if nxt is None:
            break
        chain.append(nxt)
        seen.add(nxt.id)
        fwd = nxt
    return chain


async def _supersede(conn: aiosqlite.Connection, old_id: int, new_id: int, now: float) -> None:
    old = await _fetch(conn, old_id)
    if old is None:
        raise FactInputError(f"fact #{old_id} (to supersede) does not exist")
    if old.status != "accepted":
        raise FactInputError(
            f"fact #{old_id} is {old.status}, not accepted; only an accepted fact can be superseded"
        )
    # Conditional, so a concurrent review elsewhere that retired it first makes this one fail whole.
    cur = await conn.execute(
        "UPDATE facts SET status = 'superseded', superseded_by = ?, updated_at = ? "
        "WHERE id = ? AND status = 'accepted'",
        (new_id, now, old_id),
    )
    if cur.rowcount != 1:
        raise FactInputError(
            f"fact #{old_id} was superseded by another review meanwhile; nothing was changed"
        )


async def _insert(
    conn: aiosqlite.Connection,
    *,
    subject: str,
    predicate: str,
    obj: str,
    text: str,
    tags: list[str],
    source: str | None,
    author: str,
    status: str,
    supersedes: int | None,
    now: float,
    created_at: float | None = None,
) -> int:
    # RETURNING, not lastrowid: PostgreSQL's cursor has no lastrowid (SQLite has RETURNING since 3.35).
    async with conn.execute(
        "INSERT INTO facts (subject, predicate, object, text, tags, source, author, status, supersedes, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            subject,
            predicate,
            obj,
            text,
            " ".join(tags),
            source,
            author,
            status,
            supersedes,
            created_at or now,
            now,
        ),
    ) as cur:
        (fact_id,) = await cur.fetchone()
    await conn.executemany("INSERT INTO fact_tags (tag, fact_id) VALUES (?, ?)", [(t, fact_id) for t in tags])
    return fact_id


async def add_fact(
    state: StateDB,
    *,
    subject: str,
    predicate: str,
    object: str = "",
    text: str = "",
    tags: Sequence[str] = (),
    source: str | None = None,
    author: str,
    status: str = "proposed",
    supersedes: int | None = None,
) -> Fact:
    """Store a proposal (the agent's path) or an accepted fact (a direct write)."""
    if status not in ("proposed", "accepted"):
        raise FactInputError("a new fact is proposed or accepted")
    subject, predicate = subject.strip(), predicate.strip()
    check_fact(subject, predicate, object, text, source)
    clean_tags = normalize_tags(tags)
    now = time.time()
    async with state.store.write() as conn:
        if supersedes is not None:
            target = await _fetch(conn, supersedes)
            if target is None or target.status != "accepted":
                what = "does not exist" if target is None else f"is {target.status}"
                raise FactInputError(
                    f"fact #{supersedes} {what}; supersedes must name an accepted fact "
                    "(memory_search finds it)"
                )
        fact_id = await _insert(
            conn,
            subject=subject,
            predicate=predicate,
            obj=object,
            text=text,
            tags=clean_tags,
            source=source,
            author=author,
            status=status,
            supersedes=supersedes,
            now=now,
        )
        if status == "accepted" and supersedes is not None:
            await _supersede(conn, supersedes, fact_id, now)
        fact = await _fetch(conn, fact_id)
    assert fact is not None
    await _notify(fact)
    return fact


async def review(state: StateDB, fact_id: int, *, accept: bool, reviewer: str, note: str = "") -> Fact:
    """Accept or reject a proposal. Accepting one that supersedes a fact retires that fact."""
    now = time.time()
    async with state.store.write() as conn:
        fact = await _fetch(conn, fact_id)
        if fact is None:
            raise FactInputError(f"fact #{fact_id} does not exist; `tollhouse memory review` lists proposals")
        if fact.status != "proposed":
            raise FactInputError(f"fact #{fact_id} is already {fact.status}; only proposals are reviewed")
        status = "accepted" if accept else "rejected"
        # Reviewed exactly once: the UPDATE re-checks 'proposed' on the row's newest version (on
        # PostgreSQL after waiting for a concurrent reviewer's commit), so only one review changes it.
        cur = await conn.execute(
            "UPDATE facts SET status = ?, reviewed_by = ?, review_note = ?, updated_at = ? "
            "WHERE id = ? AND status = 'proposed'",
            (status, reviewer, note or None, now, fact_id),
        )
        if cur.rowcount != 1:
            won = await _fetch(conn, fact_id)
            raise FactInputError(
                f"fact #{fact_id} is already {won.status if won else 'gone'} (reviewed elsewhere just now); "
                "only proposals are reviewed"
            )
        if accept and fact.supersedes is not None:
            await _supersede(conn, fact.supersedes, fact_id, now)
        updated = await _fetch(conn, fact_id)
    assert updated is not None
    await _notify(updated)
    return updated


async def _notify(fact: Fact) -> None:
    # A fact sourced from a case shows in that case's file (other relevant facts are found by subject
    # and tag at read time; listeners are told only about the case that sourced it).
    if fact.source and fact.source.startswith("case:"):
        await case_changed(fact.source[5:])
