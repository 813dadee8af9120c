"""`tollhouse memory` and `tollhouse cases` as a person uses them: real subprocesses, real files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tollhouse.state.db import open_sync


def th(ws: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("--config", str(ws / "tollhouse.toml"), *args), input=stdin, capture_output=True,
        text=True, env=subprocess_env(), cwd=ws, timeout=60,
    )  # fmt: skip


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / "tollhouse.toml").write_text('[identity]\noperator = "ann"\n', encoding="utf-8")
    return workspace


def _propose(ws: Path, *facts: tuple[str, str, str]) -> list[int]:
    conn = open_sync(ws / ".tollhouse" / "state.db")
    ids = []
    for s, p, o in facts:
        cur = conn.execute(
            "INSERT INTO facts (subject, predicate, object, author, status, created_at, updated_at) "
            "VALUES (?, ?, ?, 'agent:x', 'proposed', 1, 1)",
            (s, p, o),
        )
        ids.append(cur.lastrowid)
    conn.close()
    return ids


def _statuses(ws: Path) -> dict[int, tuple[str, str | None]]:
    conn = sqlite3.connect(ws / ".tollhouse" / "state.db")
    out = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, status, reviewed_by FROM facts")}
    conn.close()
    return out


def test_interactive_review_reads_answers_from_stdin(ws: Path) -> None:
    a, b, c, d = _propose(ws, ("db", "host", "db1"), ("db", "port", "5432"), ("x", "y", "z"), ("q", "r", "s"))
    res = th(ws, "memory", "review", stdin="a\nwhat?\nr: wrong port\ns\n")
    assert res.returncode == 0, res.stderr
    assert "answer a, r, s or q" in res.stdout and "stopped at end of input" in res.stdout
    st = _statuses(ws)
    assert st[a] == ("accepted", "operator:ann") and st[b] == ("rejected", "operator:ann")
    assert st[c][0] == "proposed" and st[d][0] == "proposed"
    res = th(ws, "memory", "review", stdin="q\n")
    assert res.returncode == 0 and "#3" in res.stdout and "0 reviewed" in res.stdout


def test_accept_reject_and_contradictions(ws: Path) -> None:
    a, b, c = _propose(ws, ("svc", "owner", "team-a"), ("svc", "owner", "team-b"), ("svc", "lang", "go"))
    assert th(ws, "memory", "accept", str(a)).returncode == 0
    assert th(ws, "memory", "accept", str(b), "--note", "both?").returncode == 0
    res = th(ws, "memory", "reject", str(c))
    assert res.returncode == 0 and "(rejected)" not in res.stderr
    again = th(ws, "memory", "accept", str(c))
    assert again.returncode == 1 and f"fact #{c} is already rejected" in again.stderr
    missing = th(ws, "memory", "accept", "999")
    assert missing.returncode == 1 and "fact #999 does not exist" in missing.stderr
    res = th(ws, "memory", "contradictions", "--json")
    data = json.loads(res.stdout)
    assert [(x["subject"], x["predicate"], sorted(f["object"] for f in x["facts"])) for x in data] == [
        ("svc", "owner", ["team-a", "team-b"])
    ]
    assert "svc · owner:" in th(ws, "memory", "contradictions").stdout


def test_export_import_round_trip_keeps_history(ws: Path, tmp_path: Path) -> None:
    (old,) = _propose(ws, ("db", "host", "db1"))
    th(ws, "memory", "accept", str(old))
    conn = open_sync(ws / ".tollhouse" / "state.db")
    conn.execute(
        "INSERT INTO facts (subject, predicate, object, author, status, supersedes, created_at, updated_at) "
        "VALUES ('db', 'host', 'db2', 'agent:x', 'proposed', ?, 2, 2)",
        (old,),
    )
    conn.close()
    th(ws, "memory", "accept", "2")
    out = th(ws, "memory", "export")
    lines = out.stdout.splitlines()
    assert [json.loads(x)["status"] for x in lines] == ["superseded", "accepted"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "tollhouse.toml").write_text("", encoding="utf-8")
    (tmp_path / "export.jsonl").write_text(out.stdout, encoding="utf-8")
    res = th(other, "memory", "import", str(tmp_path / "export.jsonl"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"imported": 2, "duplicates": 0, "by_kind": {"fact": 2}}
    again = json.loads(th(other, "memory", "import", str(tmp_path / "export.jsonl")).stdout)
    assert again["imported"] == 0 and again["duplicates"] == 2
    rows = [json.loads(x) for x in th(other, "memory", "export").stdout.splitlines()]
    assert [(r["object"], r["status"], r["superseded_by"], r["supersedes"]) for r in rows] == [
        ("db1", "superseded", rows[1]["id"], None),
        ("db2", "accepted", None, rows[0]["id"]),
    ]


def test_import_reference_memory_graph(ws: Path) -> None:
    graph = "\n".join(
        json.dumps(x)
        for x in [
            {
                "type": "entity",
                "name": "Ann",
                "entityType": "person",
                "observations": ["likes tea", "on call"],
            },
            {"type": "entity", "name": "Bob", "entityType": "person", "observations": []},
            {"type": "relation", "from": "Ann", "to": "Bob", "relationType": "knows"},
            {"type": "relation", "from": "Ann", "to": "Cy", "relationType": "knows"},
        ]
    )
    res = th(ws, "memory", "import", "-", stdin=graph + "\n")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"imported": 6, "duplicates": 0, "by_kind": {"entity": 4, "relation": 2}}
    found = json.loads(th(ws, "memory", "search", "tea", "--json").stdout)
    assert [(f["subject"], f["predicate"], f["text"]) for f in found] == [("Ann", "observation", "likes tea")]
    # Two "knows" relations are normal, not a contradiction.
    assert json.loads(th(ws, "memory", "contradictions", "--json").stdout) == []


def test_bad_import_stores_nothing(ws: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"type": "entity", "name": "A", "entityType": "t", "observations": []})
        + "\n"
        + json.dumps({"type": "entity", "name": "B", "entityType": "t", "observations": ["x" * 20000]})
        + "\n",
        encoding="utf-8",
    )
    res = th(ws, "memory", "import", str(bad))
    assert res.returncode == 1
    assert "line 2: text is 20000 characters, over the limit of 16384" in res.stderr
    assert _statuses(ws) == {}
    bad.write_text('{"type": "nonsense"}\n', encoding="utf-8")
    assert "line 1: unknown record 'nonsense'" in th(ws, "memory", "import", str(bad)).stderr


def test_corrupt_state_database_is_reported_and_left_alone(ws: Path) -> None:
    db = ws / ".tollhouse" / "state.db"
    db.parent.mkdir()
    garbage = b"SQLite format 3\x00" + b"\xff" * 8000
    db.write_bytes(garbage)
    res = th(ws, "memory", "contradictions")
    assert res.returncode == 7
    assert "cannot be used" in res.stderr and "nothing was changed" in res.stderr
    assert db.read_bytes() == garbage


def test_cases_cli(ws: Path) -> None:
    res = th(ws, "cases", "open", "Fix login", "--goal", "SSO works", "--tag", "auth")
    assert res.returncode == 0 and "opened fix-login" in res.stdout
    assert "fix-login" in th(ws, "cases", "list").stdout
    show = th(ws, "cases", "show", "fix-login")
    assert (
        show.returncode == 0 and "# Case fix-login: Fix login" in show.stdout and "SSO works" in show.stdout
    )
    bad = th(ws, "cases", "show", "../x")
    assert bad.returncode == 1 and "case id '../x' is not valid" in bad.stderr
