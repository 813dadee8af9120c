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
from tollhouse.state.db import StateDB

STATUSES = ("proposed", "accepted", "rejected", "superseded")

# Documented in docs/memory.md; a memory is a note, not a file store.
SUBJECT_MAX = 256
PREDICATE_MAX = 128
OBJECT_MAX = 4096
TEXT_MAX = 16384
SOURCE_MAX = 1024
TAGS_MAX = 16
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9:._/-]{0,63}$")
SEARCH_LIMIT_MAX = 100
MULTI_TAG = "multi"
"""A fact tagged ``multi`` may have several objects at once (``knows``): never a contradiction."""

_WORD_RE = re.compile(r"\w+", re.UNICODE)
# bm25 weights for subject, predicate, object, text, tags: a hit in the subject says most.
_BM25 = "bm25(facts_fts, 4.0, 1.5, 2.5, 1.0, 2.0)"


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
        return cls(
            id=row["id"],
            subject=row["subject"],
            predicate=row["predicate"],
            object=row["object"],
            text=row["text"],
            tags=row["tags"].split() if row["tags"] else [],
            source=row["source"],
            author=row["author"],
            status=row["status"],
            supersedes=row["supersedes"],
            superseded_by=row["superseded_by"],
            reviewed_by=row["reviewed_by"],
            review_note=row["review_note"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

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
    return await _fetch(state.conn, fact_id)


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
    await conn.execute(
        "UPDATE facts SET status = 'superseded', superseded_by = ?, updated_at = ? WHERE id = ?",
        (new_id, now, old_id),
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
    cur = await conn.execute(
        "INSERT INTO facts (subject, predicate, object, text, tags, source, author, status, supersedes, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    )
    fact_id = int(cur.lastrowid or 0)
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
    async with state.write() as conn:
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
    async with state.write() as conn:
        fact = await _fetch(conn, fact_id)
        if fact is None:
            raise FactInputError(f"fact #{fact_id} does not exist; `tollhouse memory review` lists proposals")
        if fact.status != "proposed":
            raise FactInputError(f"fact #{fact_id} is already {fact.status}; only proposals are reviewed")
        status = "accepted" if accept else "rejected"
        await conn.execute(
            "UPDATE facts SET status = ?, reviewed_by = ?, review_note = ?, updated_at = ? WHERE id = ?",
            (status, reviewer, note or None, now, fact_id),
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


def fts_query(query: str, *, any_word: bool = False) -> str:
    """Turn free text into a safe FTS5 query: every word quoted, so no FTS syntax gets through."""
    words = _WORD_RE.findall(query)
    if not words:
        raise FactInputError(f"query {query!r} has no searchable words; give letters or digits")
    if len(words) > 32:
        raise FactInputError("query has more than 32 words; shorten it")
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    return (" OR " if any_word else " ").join(quoted)


@dataclass(frozen=True)
class SearchPage:
    facts: list[Fact]
    next_offset: int | None


async def search(
    state: StateDB,
    query: str = "",
    *,
    statuses: Sequence[str] = ("accepted",),
    subject: str | None = None,
    predicate: str | None = None,
    tags: Sequence[str] = (),
    source: str | None = None,
    author: str | None = None,
    any_word: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """Best matches first (bm25, subject hits weigh most); without a query, newest first."""
    bad = [s for s in statuses if s not in STATUSES]
    if bad or not statuses:
        raise FactInputError(f"status must be among {', '.join(STATUSES)}; got {list(statuses)}")
    if not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise FactInputError(f"limit must be 1..{SEARCH_LIMIT_MAX}")
    if offset < 0:
        raise FactInputError("offset must be >= 0")
    where = [f"f.status IN ({','.join('?' * len(statuses))})"]
    params: list[Any] = list(statuses)
    for column, value in (
        ("subject", subject),
        ("predicate", predicate),
        ("source", source),
        ("author", author),
    ):
        if value is not None:
            where.append(f"f.{column} = ?")
            params.append(value)
    for tag in normalize_tags(tags):
        where.append("f.id IN (SELECT fact_id FROM fact_tags WHERE tag = ?)")
        params.append(tag)
    if query.strip():
        sql = (
            f"SELECT f.*, {_BM25} AS score FROM facts_fts JOIN facts f ON f.id = facts_fts.rowid "  # noqa: S608 -- placeholders and fixed column names only
            f"WHERE facts_fts MATCH ? AND {' AND '.join(where)} ORDER BY score, f.id LIMIT ? OFFSET ?"
        )
        params.insert(0, fts_query(query, any_word=any_word))
    else:
        sql = (
            f"SELECT f.* FROM facts f WHERE {' AND '.join(where)} "  # noqa: S608 -- placeholders and fixed column names only
            "ORDER BY f.updated_at DESC, f.id DESC LIMIT ? OFFSET ?"
        )
    params += [limit + 1, offset]
    async with state.conn.execute(sql, params) as cur:
        rows = await cur.fetchall()
    facts = [Fact.from_row(r) for r in rows[:limit]]
    return SearchPage(facts, offset + limit if len(rows) > limit else None)


@dataclass(frozen=True)
class Contradiction:
    subject: str
    predicate: str
    facts: list[Fact]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "predicate": self.predicate,
            "facts": [f.to_json() for f in self.facts],
        }


async def contradictions(
    state: StateDB, subjects: Sequence[str] | None = None, *, limit: int = 1000
) -> list[Contradiction]:
    """Accepted facts with the same subject and predicate but different objects.

    Objects compare case- and space-insensitively; free-text facts (no object) and facts tagged
    ``multi`` are never contradictions. At most ``limit`` (subject, predicate) pairs are returned.
    """
    scope = ""
    params: list[Any] = []
    if subjects is not None:
        if not subjects:
            return []
        scope = f"AND subject IN ({','.join('?' * len(subjects))})"
        params = list(subjects)
    # Single-valued, accepted claims: NOT EXISTS on fact_tags' (tag, fact_id) key, facts_subject index.
    claim = (
        "status = 'accepted' AND object != '' AND NOT EXISTS "
        "(SELECT 1 FROM fact_tags t WHERE t.tag = 'multi' AND t.fact_id = f.id)"  # 'multi' is MULTI_TAG
    )
    # With a subject list, '+status' keeps SQLite on facts_subject instead of scanning every accepted
    # fact through facts_status (no ANALYZE statistics tell it which is narrower).
    inner = claim.replace("status =", "+status =", 1) if subjects is not None else claim
    sql = f"""
        WITH c AS (
            SELECT subject, predicate FROM facts f WHERE {inner} {scope}
            GROUP BY subject, predicate HAVING count(DISTINCT lower(trim(object))) > 1
            ORDER BY subject, predicate LIMIT {int(limit)})
        SELECT f.* FROM c JOIN facts f ON f.subject = c.subject AND f.predicate = c.predicate
        WHERE {claim}
        ORDER BY f.subject, f.predicate, f.id
    """  # noqa: S608 -- placeholders and constants only
    async with state.conn.execute(sql, params) as cur:
        rows = await cur.fetchall()
    groups: dict[tuple[str, str], list[Fact]] = {}
    for row in rows:
        fact = Fact.from_row(row)
        groups.setdefault((fact.subject, fact.predicate), []).append(fact)
    return [Contradiction(s, p, fs) for (s, p), fs in groups.items()]
