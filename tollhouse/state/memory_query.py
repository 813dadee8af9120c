"""Reading memory: full-text search with filters and paging, and contradictions between facts.

Writes (proposals, review, superseding) live in ``memory.py``; this module only reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tollhouse.state.db import StateDB
from tollhouse.state.memory import STATUSES, Fact, FactInputError, normalize_tags

SEARCH_LIMIT_MAX = 100
MULTI_TAG = "multi"
"""A fact tagged ``multi`` may have several objects at once (``knows``): never a contradiction."""

_WORD_RE = re.compile(r"\w+", re.UNICODE)
_TOKEN_RE = re.compile(r"[^\W_]+", re.UNICODE)  # what FTS5's unicode61 keeps: '_' separates words
# bm25 weights for subject, predicate, object, text, tags: a hit in the subject says most.
_BM25 = "bm25(facts_fts, 4.0, 1.5, 2.5, 1.0, 2.0)"


def fts_query(query: str, *, any_word: bool = False) -> str:
    """Turn free text into a safe FTS5 query: every word quoted, so no FTS syntax gets through."""
    words = _WORD_RE.findall(query)
    if not words or not _TOKEN_RE.search(query):  # "_" alone is no word to FTS5 either
        raise FactInputError(f"query {query!r} has no searchable words; give letters or digits")
    if len(words) > 32:
        raise FactInputError("query has more than 32 words; shorten it")
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    return (" OR " if any_word else " ").join(quoted)


# PostgreSQL has no FTS5: a fact matches a word when one of its columns holds it as a whole word,
# case-insensitively (FTS5's unicode61 tokens), and ranks by the same column weights as bm25 above.
_PG_COLUMNS = (("subject", 4.0), ("predicate", 1.5), ("object", 2.5), ("text", 1.0), ("tags", 2.0))


def _pg_match(query: str, *, any_word: bool) -> tuple[str, str, list[Any], list[Any]]:
    """(condition, score expression, condition params, score params) for a PostgreSQL search."""
    fts_query(query, any_word=any_word)  # the same refusals (no words, too many) on both backends
    patterns = [f"(^|[^[:alnum:]]){w}([^[:alnum:]]|$)" for w in _TOKEN_RE.findall(query)]
    if not patterns:
        raise FactInputError(f"query {query!r} has no searchable words; give letters or digits")
    doc = " || ' ' || ".join(f"f.{c}" for c, _ in _PG_COLUMNS)
    cond = (" OR " if any_word else " AND ").join(f"({doc}) ~* ?" for _ in patterns)
    score = " + ".join(f"{weight} * (f.{c} ~* ?)::int" for _ in patterns for c, weight in _PG_COLUMNS)
    return f"({cond})", score, patterns, [p for p in patterns for _ in _PG_COLUMNS]


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
    if query.strip() and state.store.dialect == "postgresql":
        cond, score, cond_params, score_params = _pg_match(query, any_word=any_word)
        sql = (
            f"SELECT f.*, {score} AS score FROM facts f "  # noqa: S608 -- placeholders and fixed column names only
            f"WHERE {cond} AND {' AND '.join(where)} ORDER BY score DESC, f.id LIMIT ? OFFSET ?"
        )
        params = score_params + cond_params + params
    elif query.strip():
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
    async with state.store.conn.execute(sql, params) as cur:
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
    sqlite = state.store.dialect == "sqlite"
    inner = claim.replace("status =", "+status =", 1) if subjects is not None and sqlite else claim
    sql = f"""
        WITH c AS (
            SELECT subject, predicate FROM facts f WHERE {inner} {scope}
            GROUP BY subject, predicate HAVING count(DISTINCT lower(trim(object))) > 1
            ORDER BY subject, predicate LIMIT {int(limit)})
        SELECT f.* FROM c JOIN facts f ON f.subject = c.subject AND f.predicate = c.predicate
        WHERE {claim}
        ORDER BY f.subject, f.predicate, f.id
    """  # noqa: S608 -- placeholders and constants only
    async with state.store.conn.execute(sql, params) as cur:
        rows = await cur.fetchall()
    groups: dict[tuple[str, str], list[Fact]] = {}
    for row in rows:
        fact = Fact.from_row(row)
        groups.setdefault((fact.subject, fact.predicate), []).append(fact)
    return [Contradiction(s, p, fs) for (s, p), fs in groups.items()]
