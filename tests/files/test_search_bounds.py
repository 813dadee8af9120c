"""files_search against hostile patterns: the call ends promptly and no CPU burner outlives it.

A catastrophic-backtracking pattern on a long line would run for ever under Python's ``re``; worse,
a worker thread cannot be killed, so it kept burning a CPU after the gate's timeout had answered the
call. These tests measure the process's CPU time after the call has ended, so a search thread that
is still running cannot hide.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from tests.files.test_gate import outcome_row
from tollhouse.config import parse_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call
from tollhouse.tools.base import ToolError
from tollhouse.tools.files import search

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

HOSTILE = r"(a|aa)+$"  # `regex` does not defuse this one: it must hit the time limit
LINE = "a" * 5000 + "b\n"


async def cpu_while_idle(seconds: float = 0.5) -> float:
    """CPU seconds this process burns while the test only sleeps: ~0 unless a thread is still busy."""
    before = time.process_time()
    await anyio.sleep(seconds)
    return time.process_time() - before


async def test_hostile_pattern_stops_at_the_match_limit(env):
    (env.root / "ok.txt").write_text("fine\n")
    (env.root / "evil.txt").write_text("x\n" + LINE)
    t0 = time.monotonic()
    with pytest.raises(ToolError, match=r"took more than 1 s on 'evil.txt'.*backtracks catastrophically"):
        await env.run("files_search", pattern=HOSTILE)
    assert time.monotonic() - t0 < 4 * search.MATCH_TIMEOUT_S
    assert await cpu_while_idle() < 0.2


async def test_hostile_pattern_names_the_line_when_the_file_passes(env, monkeypatch):
    # The whole-file attempt can succeed early (a match in line 1) while a later line backtracks.
    (env.root / "evil.txt").write_text("aa\nzz\n" + "bbb" + "a" * 5000 + "c\n")
    monkeypatch.setattr(search, "MATCH_TIMEOUT_S", 0.3)
    with pytest.raises(ToolError, match=r"took more than 0.3 s on line 3 of 'evil.txt'"):
        await env.run("files_search", pattern=r"^b*(a|aa)+$")
    assert await cpu_while_idle() < 0.2


async def test_patterns_re_would_hang_on_still_work(env):
    (env.root / "f.txt").write_text("x\n" + LINE + "aaaa\n")
    out = await env.run("files_search", pattern=r"^(a+)+$")  # defused by `regex`: no timeout
    assert [m.line for m in out.matches] == [3]


async def test_invalid_pattern_is_a_clear_error(env):
    with pytest.raises(ToolError, match=r"invalid regular expression: .*pass literal=true"):
        await env.run("files_search", pattern="(unclosed")
    (env.root / "f.txt").write_text("a (unclosed b\n")
    out = await env.run("files_search", pattern="(unclosed", literal=True)
    assert [m.line for m in out.matches] == [1]


def gate_config(tmp_path: Path, timeout_s: float) -> tuple:
    root = tmp_path / "gws"
    root.mkdir()
    (root / "evil.txt").write_text(LINE)
    path = root / "tollhouse.toml"
    path.write_text(
        textwrap.dedent(f"""
        [tools]
        families = ["files"]

        [limits]
        timeout_s = {timeout_s}

        [[rules]]
        id = "search"
        tools = ["files_search"]
        effect = "allow"
        """)
    )
    return parse_config(path.read_text(), path), root


async def test_through_the_gate_the_error_is_receipted(tmp_path):
    config, _ = gate_config(tmp_path, 30)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("files_search", {"pattern": HOSTILE}))
    assert out.status == "error" and "backtracks catastrophically" in out.message
    assert outcome_row(config, out.call_id)["outcome"] == "error"
    assert await cpu_while_idle() < 0.2


async def test_gate_timeout_leaves_no_burner_behind(tmp_path):
    """The gate answers at its own timeout (shorter than the match limit); the worker thread then
    stops at the match limit instead of running on unseen."""
    config, _ = gate_config(tmp_path, 0.3)
    async with await Gate.open(config) as gate:
        t0 = time.monotonic()
        out = await gate.call(Call("files_search", {"pattern": HOSTILE}))
        assert time.monotonic() - t0 < 2.0
    assert out.status == "timeout", out.message
    row = outcome_row(config, out.call_id)
    assert row["outcome"] == "timeout" and json.loads(row["rules"]) == ["search"]
    await anyio.sleep(search.MATCH_TIMEOUT_S + 0.5)
    assert await cpu_while_idle() < 0.2
