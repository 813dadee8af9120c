"""Memory, cases and handoffs in the shared store: a proposal reviewed exactly once across server
processes, a handoff written by one replica read by another, and the memory API's behaviour (search,
ranking, paging, contradictions, superseding) the same on PostgreSQL as on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.memory.test_cases import (  # noqa: F401 -- collected here again, on PostgreSQL
    test_handoffs_on_done_and_blocked_set_status,
    test_ids_from_titles_are_unique_and_valid,
    test_listener_hears_changes,
    test_oversized_handoff_is_refused,
)
from tests.memory.test_memory_store import (  # noqa: F401 -- collected here again, on PostgreSQL
    test_bad_tags_and_empty_facts,
    test_contradictions,
    test_fts_syntax_in_queries_is_inert,
    test_proposal_is_not_searchable_until_accepted,
    test_rejected_proposal_is_kept_not_deleted,
    test_review_of_missing_fact_is_a_clear_error,
    test_search_paging_and_filters,
    test_search_ranking_prefers_subject_and_more_hits,
    test_supersedes_must_name_an_accepted_fact,
    test_superseding_keeps_history,
)
from tollhouse.state import cases, memory, memory_query
from tollhouse.state.db import StateDB

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
REVIEWERS = 8
PROPOSALS = 6


@pytest.fixture
async def state(pg_url: str, tmp_path: Path) -> AsyncIterator[StateDB]:
    """The memory and case tests' fixture, on PostgreSQL (their own modules run them on SQLite)."""
    db = await StateDB.open(tmp_path / "pg-run" / "state.db", url=pg_url)
    try:
        yield db
    finally:
        await db.close()


def _sqlite_facts(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM facts").fetchone()[0])
    finally:
        conn.close()


def _helper(db: Path, url: str | None, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.memory_helper", str(db), url or "-", *args],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=subprocess_env(), cwd=REPO,
    )  # fmt: skip


async def test_proposals_raced_by_8_reviewing_processes_are_each_reviewed_once(
    backend: str | None, tmp_path: Path
) -> None:
    # On PostgreSQL every process has its own workspace file: only the store is shared.
    def db_of(i: int) -> Path:
        return tmp_path / (f"p{i}" if backend else "shared") / "state.db"

    state = await StateDB.open(db_of(-1), url=backend)
    try:
        facts = [
            await memory.add_fact(
                state, subject=f"api{n}", predicate="owner", object="team-a", author="agent:x"
            )
            for n in range(PROPOSALS)
        ]
        ids = [str(f.id) for f in facts]
        procs = [
            _helper(db_of(i), backend, "review", f"op{i}", *ids, stdin=subprocess.PIPE)
            for i in range(REVIEWERS)
        ]
        try:
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr
            for p in procs:  # every process accepts every proposal, in the same order, at once
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            answers = []  # answers[i][n]: process i's review of proposal n
            for p in procs:
                out, err = p.communicate(timeout=60)
                assert p.returncode == 0, err
                answers.append(out.splitlines())
        finally:
            for p in procs:
                p.kill()
                p.wait()
        for n, fact in enumerate(facts):
            said = [answers[i][n] for i in range(REVIEWERS)]
            won = [i for i, a in enumerate(said) if a == "won"]
            assert len(won) == 1, said
            refusal = f"refused: fact #{fact.id} is already accepted"
            assert all(
                a.startswith(refusal) and "only proposals are reviewed" in a for a in said if a != "won"
            )
            stored = await memory.get_fact(state, fact.id)
            assert stored is not None
            assert (stored.status, stored.reviewed_by) == ("accepted", f"op{won[0]}")
        # Accepted once means found once, wherever the search runs.
        assert [f.id for f in (await memory_query.search(state, "api0")).facts] == [facts[0].id]
    finally:
        await state.close()
    if backend:
        with psycopg.connect(backend) as conn:
            rows = conn.execute("SELECT status, count(*) FROM facts GROUP BY status").fetchall()
            assert rows == [("accepted", PROPOSALS)]
        assert _sqlite_facts(db_of(-1)) == 0  # nothing went to the workspace file


async def test_a_handoff_written_by_one_process_is_read_by_another(
    backend: str | None, tmp_path: Path
) -> None:
    writer_db = tmp_path / ("writer" if backend else "shared") / "state.db"
    writer = _helper(writer_db, backend, "handoff", "shared-case")
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    handoff_id = int(out)
    reader = await StateDB.open(tmp_path / ("reader" if backend else "shared") / "state.db", url=backend)
    try:
        case = await cases.require_case(reader, "shared-case")
        [handoff] = await cases.handoffs(reader, "shared-case")
        assert (case.title, case.status) == ("Shared case", "open")
        assert (handoff.id, handoff.summary, handoff.next_steps) == (handoff_id, "half done", ["finish"])
        # ...and the reader's note is the writer's next read: one case, one history.
        note = await cases.add_note(reader, "shared-case", "picked up by the reader", author="agent:b")
        assert [n["id"] for n in await cases.notes(reader, "shared-case")] == [note]
    finally:
        await reader.close()


async def test_search_words_match_whole_words_case_insensitively_on_both(
    backend: str | None, tmp_path: Path
) -> None:
    state = await StateDB.open(tmp_path / "state.db", url=backend)

    async def add(subject: str, obj: str = "", text: str = "", tags: tuple[str, ...] = ()) -> int:
        f = await memory.add_fact(
            state,
            subject=subject,
            predicate="note",
            object=obj,
            text=text,
            tags=tags,
            author="o",
            status="accepted",
        )
        return f.id

    try:
        deploy = await add("Deploy", "weekly")
        deployment = await add("deployment", "daily")  # another word: no match for "deploy"
        tagged = await add("ci", "runs", tags=("deploy",))
        both = await add("release", text="we deploy on friday, DEPLOY-ready")
        snake = await add("job", text="run deploy_weekly now")  # '_' splits words, as in FTS5

        async def ids(query: str, **kw: object) -> set[int]:
            return {f.id for f in (await memory_query.search(state, query, limit=100, **kw)).facts}

        assert await ids("deploy") == {deploy, tagged, both, snake}
        assert await ids("DEPLOY weekly") == {deploy, snake}
        assert await ids("deploy daily", any_word=True) == {deploy, deployment, tagged, both, snake}
        assert await ids("friday") == {both}
        assert await ids("deploy", tags=["deploy"]) == {tagged}
        assert await ids("deploymen") == set()
        with pytest.raises(memory.FactInputError, match="no searchable words"):
            await memory_query.search(state, "%_'")
    finally:
        await state.close()


async def test_memory_cli_reviews_in_the_store(pg_url: str, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    write_config(root, f'[store]\nurl = "{pg_url}"\n')
    state = await StateDB.open(tmp_path / "server" / "state.db", url=pg_url)  # a server elsewhere
    try:
        fact = await memory.add_fact(
            state, subject="db", predicate="engine", object="postgres", author="agent:x"
        )
    finally:
        await state.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            tollhouse_cmd("memory", *args),
            cwd=root,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = cli("accept", str(fact.id), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["fact"]["status"] == "accepted"
    again = cli("reject", str(fact.id))
    assert again.returncode == 1 and f"fact #{fact.id} is already accepted" in again.stderr
    found = cli("search", "postgres", "--json")
    assert found.returncode == 0, found.stderr
    assert [f["id"] for f in json.loads(found.stdout)] == [fact.id]
    assert (
        not (root / ".tollhouse" / "state.db").exists()
        or _sqlite_facts(root / ".tollhouse" / "state.db") == 0
    )


async def test_two_servers_share_memory_and_cases_through_their_gates(pg_url: str, tmp_path: Path) -> None:
    from tollhouse.config import load_config
    from tollhouse.gate import Call, Gate
    from tollhouse.profiles import render

    def config(name: str) -> Path:
        root = tmp_path / name
        root.mkdir()
        return write_config(root, render("dev") + f'\n[store]\nurl = "{pg_url}"\n')

    async with await Gate.open(load_config(config("a"))) as a, await Gate.open(load_config(config("b"))) as b:
        fact = {"subject": "api", "predicate": "owner", "object": "team-a"}
        proposed = await a.call(Call(tool="memory_propose", arguments=fact, client="agent-x/1", session="s1"))
        assert proposed.status == "ok", proposed.message
        fact_id = proposed.result["id"]
        await memory.review(b.services.state, fact_id, accept=True, reviewer="operator:me")  # b's operator
        with pytest.raises(memory.FactInputError, match=f"fact #{fact_id} is already accepted"):
            await memory.review(a.services.state, fact_id, accept=False, reviewer="operator:me")
        for gate in (a, b):
            found = await gate.call(Call(tool="memory_search", arguments={"query": "owner api"}))
            assert [f["id"] for f in found.result["facts"]] == [fact_id]
        opened = await a.call(Call(tool="case_open", arguments={"title": "Tidy", "id": "tidy"}, session="s1"))
        assert opened.status == "ok", opened.message
        blocked = {"kind": "blocked", "summary": "need a key", "blockers": ["key"]}
        handed = await a.call(Call(tool="case_handoff", arguments=blocked, session="s1", case="tidy"))
        assert handed.status == "ok", handed.message
        [handoff] = await cases.handoffs(b.services.state, "tidy")
        assert (handoff.summary, handoff.blockers) == ("need a key", ["key"])
        assert (await cases.require_case(b.services.state, "tidy")).status == "blocked"
