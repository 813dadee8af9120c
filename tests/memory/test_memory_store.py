from __future__ import annotations

import pytest

from tollhouse.state import memory, memory_query
from tollhouse.state.db import StateDB

pytestmark = pytest.mark.anyio


async def test_proposal_is_not_searchable_until_accepted(state: StateDB) -> None:
    fact = await memory.add_fact(state, subject="api", predicate="owner", object="team-a", author="agent:x")
    assert fact.status == "proposed"
    assert (await memory_query.search(state, "api")).facts == []
    assert [f.id for f in (await memory_query.search(state, "api", statuses=["proposed"])).facts] == [fact.id]
    accepted = await memory.review(state, fact.id, accept=True, reviewer="operator:ann", note="checked")
    assert (accepted.status, accepted.reviewed_by, accepted.review_note) == (
        "accepted",
        "operator:ann",
        "checked",
    )
    assert [f.id for f in (await memory_query.search(state, "api")).facts] == [fact.id]


async def test_rejected_proposal_is_kept_not_deleted(state: StateDB) -> None:
    fact = await memory.add_fact(state, subject="api", predicate="owner", object="nobody", author="agent:x")
    rejected = await memory.review(state, fact.id, accept=False, reviewer="operator:ann")
    assert rejected.status == "rejected"
    assert (await memory.get_fact(state, fact.id)).status == "rejected"
    assert (await memory_query.search(state, "api")).facts == []
    with pytest.raises(memory.FactInputError, match="already rejected"):
        await memory.review(state, fact.id, accept=True, reviewer="operator:ann")


async def test_review_of_missing_fact_is_a_clear_error(state: StateDB) -> None:
    with pytest.raises(memory.FactInputError, match="#99 does not exist"):
        await memory.review(state, 99, accept=True, reviewer="operator:ann")


async def test_superseding_keeps_history(state: StateDB) -> None:
    old = await memory.add_fact(
        state, subject="db", predicate="host", object="db1", author="operator:ann", status="accepted"
    )
    new = await memory.add_fact(
        state, subject="db", predicate="host", object="db2", author="agent:x", supersedes=old.id
    )
    # A proposal does not retire the old fact; accepting it does.
    assert (await memory.get_fact(state, old.id)).status == "accepted"
    await memory.review(state, new.id, accept=True, reviewer="operator:ann")
    old_now = await memory.get_fact(state, old.id)
    assert (old_now.status, old_now.superseded_by) == ("superseded", new.id)
    chain = await memory.history(state, new.id)
    assert [(f.id, f.object, f.status) for f in chain] == [
        (old.id, "db1", "superseded"),
        (new.id, "db2", "accepted"),
    ]
    assert await memory_query.contradictions(state) == []


async def test_supersedes_must_name_an_accepted_fact(state: StateDB) -> None:
    proposal = await memory.add_fact(state, subject="a", predicate="b", object="c", author="agent:x")
    with pytest.raises(memory.FactInputError, match=f"#{proposal.id} is proposed"):
        await memory.add_fact(
            state, subject="a", predicate="b", object="d", author="x", supersedes=proposal.id
        )
    with pytest.raises(memory.FactInputError, match="#404 does not exist"):
        await memory.add_fact(state, subject="a", predicate="b", object="d", author="x", supersedes=404)


async def test_contradictions(state: StateDB) -> None:
    async def accepted(subject: str, predicate: str, obj: str, tags: list[str] = ()) -> memory.Fact:
        return await memory.add_fact(
            state, subject=subject, predicate=predicate, object=obj, author="o", status="accepted", tags=tags
        )

    a = await accepted("svc", "owner", "team-a")
    b = await accepted("svc", "owner", "team-b")
    await accepted("svc", "owner", " Team-A ")  # same object modulo case and spaces: not a third side
    await accepted("svc", "lang", "python")
    await accepted("ann", "knows", "bob", ["multi"])
    await accepted("ann", "knows", "carol", ["multi"])
    p = await memory.add_fact(state, subject="svc", predicate="lang", object="rust", author="agent:x")
    found = await memory_query.contradictions(state)
    assert [(c.subject, c.predicate) for c in found] == [("svc", "owner")]
    assert {f.id for f in found[0].facts} >= {a.id, b.id}
    # A proposal is not a contradiction until it is accepted.
    await memory.review(state, p.id, accept=True, reviewer="o")
    assert [(c.subject, c.predicate) for c in await memory_query.contradictions(state)] == [
        ("svc", "lang"),
        ("svc", "owner"),
    ]
    assert await memory_query.contradictions(state, ["other"]) == []


async def test_search_ranking_prefers_subject_and_more_hits(state: StateDB) -> None:
    async def add(subject: str, obj: str, text: str = "") -> int:
        f = await memory.add_fact(
            state, subject=subject, predicate="note", object=obj, text=text, author="o", status="accepted"
        )
        return f.id

    in_text = await add("deploy", "weekly", "the kafka cluster is restarted")
    in_subject = await add("kafka", "3 brokers")
    in_both = await add("kafka cluster", "kafka on k8s", "kafka kafka")
    await add("unrelated", "nothing here")
    ids = [f.id for f in (await memory_query.search(state, "kafka")).facts]
    assert ids[0] == in_both
    assert ids.index(in_subject) < ids.index(in_text)
    assert len(ids) == 3


async def test_search_paging_and_filters(state: StateDB) -> None:
    for i in range(25):
        await memory.add_fact(
            state, subject=f"host{i}", predicate="role", object="web server", tags=["infra", f"n{i % 2}"],
            author="o", status="accepted", source="file:hosts.txt",
        )  # fmt: skip
    seen: list[int] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = await memory_query.search(state, "web", limit=10, offset=offset)
        seen += [f.id for f in page.facts]
        offset = page.next_offset
        pages += 1
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25
    odd = await memory_query.search(state, "server", tags=["infra", "n1"], limit=100)
    assert len(odd.facts) == 12 and all("n1" in f.tags for f in odd.facts)
    assert len((await memory_query.search(state, "", subject="host3")).facts) == 1
    assert len((await memory_query.search(state, "web", source="file:other")).facts) == 0
    # Without a query: newest first.
    newest = await memory_query.search(state, "", limit=1)
    assert newest.facts[0].subject == "host24"


@pytest.mark.parametrize("query", ['"', "AND", "kafka OR", "NEAR(a b", "col:xyz", "*", "a^b"])
async def test_fts_syntax_in_queries_is_inert(state: StateDB, query: str) -> None:
    await memory.add_fact(state, subject="kafka", predicate="p", object="AND", author="o", status="accepted")
    try:
        await memory_query.search(state, query)
    except memory.FactInputError as exc:
        assert "no searchable words" in str(exc)


@pytest.mark.parametrize(
    ("field", "size", "message"),
    [
        ("subject", memory.SUBJECT_MAX + 1, "subject is 257 characters, over the limit of 256"),
        ("object", memory.OBJECT_MAX + 1, "object is 4097 characters, over the limit of 4096"),
        ("text", memory.TEXT_MAX + 1, "text is 16385 characters, over the limit of 16384"),
    ],
)
async def test_oversized_facts_are_refused_and_nothing_stored(
    state: StateDB, field: str, size: int, message: str
) -> None:
    values = {"subject": "s", "predicate": "p", "object": "o", "text": ""}
    values[field] = "x" * size
    with pytest.raises(memory.FactInputError, match=message):
        await memory.add_fact(state, author="o", **values)
    async with state.conn.execute("SELECT count(*) FROM facts") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_bad_tags_and_empty_facts(state: StateDB) -> None:
    with pytest.raises(memory.FactInputError, match="tag 'Bad Tag!' is not valid"):
        await memory.add_fact(state, subject="s", predicate="p", object="o", tags=["Bad Tag!"], author="o")
    with pytest.raises(memory.FactInputError, match="at most 16 tags"):
        await memory.add_fact(
            state, subject="s", predicate="p", object="o", tags=[f"t{i}" for i in range(17)], author="o"
        )
    with pytest.raises(memory.FactInputError, match="needs an object or a text"):
        await memory.add_fact(state, subject="s", predicate="p", author="o")
