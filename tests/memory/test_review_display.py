"""What agents wrote reaches a person's terminal escaped: `memory review` (with the full text of the
fact a proposal would replace), `memory search`, `memory contradictions`, `cases list` and `cases
show`, through real subprocesses on a real state database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.memory.test_cli import th
from tollhouse import display
from tollhouse.state import cases
from tollhouse.state.db import StateDB, open_sync

# (raw, how it must be shown) for one-line fields: each a way to restyle or forge a terminal line.
HOSTILE = [
    ("\x1b[2J", "\\x1b[2J"),  # clear screen
    ("\x1b[8mhidden\x1b[0m", "\\x1b[8mhidden\\x1b[0m"),  # conceal
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # OSC: set window title, BEL
    ("ok\rreplaced", "ok\\rreplaced"),  # carriage return rewrites the line
    ("a\x08\x08b", "a\\x08\\x08b"),  # backspace
    ("x\x7fy", "x\\x7fy"),  # DEL
    ("\x9b31m", "\\x9b31m"),  # C1 CSI
    ("\x00", "\\x00"),
    ("one\ntwo", "one\\ntwo"),  # a forged line of our own output
    ("abc\u202edcba", "abc\\u202edcba"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u2066x\u2069", "\\u2066x\\u2069"),  # isolates
    ("a\u200bb", "a\\u200bb"),  # zero width space
    ("ok\U000e0041\U000e0042", "ok\\U000e0041\\U000e0042"),  # tag characters
    ("a\u2028b", "a\\u2028b"),  # line separator
    ("a\u3164b", "a\\u3164b"),  # Hangul filler
    ("a\ufe0fb", "a\\ufe0fb"),  # variation selector
    ("back\\x1b", "back\\\\x1b"),  # a typed backslash cannot pass for an escape
    ("tab\there", "tab\\there"),
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
def test_line_escapes_every_control_and_invisible_character(raw: str, shown: str) -> None:
    assert display.line(raw) == shown


@pytest.mark.parametrize("text", ["plain ascii", "naïve café — 東京 👍", "a · b", ""])
def test_visible_text_is_unchanged(text: str) -> None:
    assert display.line(text) == text and display.block(text) == text


def test_block_keeps_newlines_and_tabs_only() -> None:
    assert display.block("a\n\tb\r\n\x1b[1mc") == "a\n\tb\\r\n\\x1b[1mc"


def _insert(ws: Path, *rows: tuple[str, str, str, str, str, int | None]) -> list[int]:
    conn = open_sync(ws / ".tollhouse" / "state.db")
    ids = []
    for subject, predicate, obj, text, status, supersedes in rows:
        cur = conn.execute(
            "INSERT INTO facts (subject, predicate, object, text, author, status, supersedes, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, 'agent:x\x1b[0m', ?, ?, 1, 1)",
            (subject, predicate, obj, text, status, supersedes),
        )
        ids.append(int(cur.lastrowid or 0))
    conn.close()
    return ids


# Every character of HOSTILE that must never reach the terminal raw (newlines end our own lines).
FORBIDDEN = {c for raw, _ in HOSTILE for c in raw if display.line(c) != c and c not in "\\\n"}


def _no_raw(out: str) -> None:
    assert len(FORBIDDEN) >= 15
    leaked = sorted({c for c in out if c in FORBIDDEN})
    assert not leaked, leaked


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / "tollhouse.toml").write_text('[identity]\noperator = "ann"\n', encoding="utf-8")
    return workspace


def test_review_escapes_the_proposal_and_shows_what_it_replaces_in_full(ws: Path) -> None:
    (old,) = _insert(
        ws, ("deploy:prod", "approver", "alice", "Only alice may approve.\nAsk her first.", "accepted", None)
    )
    hostile = "".join(raw for raw, _ in HOSTILE)
    (new,) = _insert(ws, ("deploy:prod", "approver", f"mallory{hostile}", f"note{hostile}", "proposed", old))
    res = th(ws, "memory", "review", stdin="s\n")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    _no_raw(out)
    shown = "".join(s for _, s in HOSTILE)
    assert f"#{new} deploy:prod · approver · mallory{shown}  (proposed)" in out
    assert f"    text: note{shown}" in out
    assert f"    replaces #{old} (accepted), which says:\n      deploy:prod · approver · alice\n" in out
    assert "      text: Only alice may approve.\\nAsk her first.\n" in out
    assert "by agent:x\\x1b[0m" in out
    # Nothing changed: the proposal was skipped.
    conn = sqlite3.connect(ws / ".tollhouse" / "state.db")
    assert dict(conn.execute("SELECT id, status FROM facts")) == {old: "accepted", new: "proposed"}
    conn.close()


def test_review_says_when_the_subject_changes_and_when_the_target_is_gone(ws: Path) -> None:
    (old,) = _insert(ws, ("secret:key", "value", "k1", "", "accepted", None))
    _insert(ws, ("runbook:x", "value", "k2", "", "proposed", old), ("a", "b", "c", "", "proposed", 999))
    res = th(ws, "memory", "review", stdin="s\ns\n")
    assert res.returncode == 0, res.stderr
    assert "    note: the subject changes from secret:key to runbook:x\n" in res.stdout
    assert "    replaces #999, which does not exist (accepting will fail)\n" in res.stdout


def test_search_and_contradictions_escape(ws: Path) -> None:
    _insert(
        ws,
        ("svc\x1b[31m", "owner", "team\ra", "", "accepted", None),
        ("svc\x1b[31m", "owner", "team\u202eb", "", "accepted", None),
    )
    res = th(ws, "memory", "search", "--status", "accepted")
    assert res.returncode == 0, res.stderr
    assert (
        "svc\\x1b[31m · owner · team\\ra" in res.stdout
        and "\x1b" not in res.stdout
        and "\r" not in res.stdout
    )
    res = th(ws, "memory", "contradictions")
    assert res.returncode == 0, res.stderr
    assert "svc\\x1b[31m · owner:" in res.stdout and "team\\u202eb" in res.stdout
    assert "\x1b" not in res.stdout and "\u202e" not in res.stdout


def test_cases_list_and_show_escape(ws: Path) -> None:
    async def seed() -> None:
        state = await StateDB.open(ws / ".tollhouse" / "state.db")
        try:
            await cases.open_case(
                state, title="Fix\x1b[2J it\rnow", goal="goal\u202e", case_id="c1", author="agent:x"
            )
            await cases.add_note(state, "c1", "line one\nline two\x1b]0;pwned\x07", author="agent:x")
        finally:
            await state.close()

    asyncio.run(seed())
    res = th(ws, "cases", "list")
    assert res.returncode == 0, res.stderr
    assert "Fix\\x1b[2J it\\rnow" in res.stdout and "\x1b" not in res.stdout and "\r" not in res.stdout
    res = th(ws, "cases", "show", "c1")
    assert res.returncode == 0, res.stderr
    assert "line one\nline two\\x1b]0;pwned\\x07" in res.stdout
    assert "goal\\u202e" in res.stdout
    for c in "\x1b\r\x07\u202e":
        assert c not in res.stdout


def test_accept_by_id_names_the_fact_it_retired(ws: Path) -> None:
    (old,) = _insert(ws, ("deploy:prod", "approver", "alice\x1b[8m", "", "accepted", None))
    (new,) = _insert(ws, ("deploy:prod", "approver", "mallory", "", "proposed", old))
    res = th(ws, "memory", "accept", str(new))
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        f"#{new} deploy:prod · approver · mallory  (accepted)\n"
        f"retired: #{old} deploy:prod · approver · alice\\x1b[8m  (superseded)\n"
    )
