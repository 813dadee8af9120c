"""`receipts tail` shows calls (one row each, the receipts behind it) and `receipts show` takes the
ids it prints, whole or as any unique prefix."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli.conftest import CALLS, th
from tests.conftest import subprocess_env, tollhouse_cmd


def _calls(cli: Any, ws: Path, *args: str) -> list[dict]:
    code, out, err = cli(ws, "receipts", "tail", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_tail_shows_one_row_per_call_with_its_receipts(history: Path, cli: Any) -> None:
    out = th(history, "receipts", "tail")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    header = ["CALL", "TIME", "(UTC)", "TOOL", "DECISION", "OUTCOME", "BY", "MS", "RECEIPTS", "MESSAGE"]
    assert lines[0].split() == header
    assert len(lines) == 1 + len(CALLS) + 1  # the calls and the event
    assert lines[1].split()[0] == "ab12c0ffee00" and lines[1].split()[-1] == "1,2"
    assert "local:alice@laptop" in lines[3] and lines[5].split()[5] == "pending"
    assert "\x1b" not in out.stdout and "\\x1b[31mred" in lines[4]  # the model's escape shown, not obeyed
    data = _calls(cli, history)
    assert [c["outcome"] for c in data] == [
        "ok",
        "denied",
        "ok",
        "error",
        "pending",
        "needs_approval",
        "event",
    ]
    assert [c["seqs"] for c in data][:2] == [[1, 2], [3, 4]]
    assert [e["kind"] for e in data[0]["receipts"]] == ["intent", "outcome"]
    assert data[2]["approver"] == "local:alice@laptop" and data[2]["decision"] == "ask"


def test_tail_filters_name_calls(history: Path, cli: Any) -> None:
    assert [c["call_id"][:4] for c in _calls(cli, history, "--outcome", "denied")] == ["ab34"]
    assert [c["call_id"][:4] for c in _calls(cli, history, "--outcome", "pending")] == ["e1e1"]
    assert [c["call_id"][:4] for c in _calls(cli, history, "--tool", "shell_run")] == ["d00d"]
    assert [c["call_id"][:4] for c in _calls(cli, history, "--case", "case-7")] == ["ab34", "c0ff"]
    assert [c["call_id"][:4] for c in _calls(cli, history, "--tool", "<b>x</b>")] == ["f00f"]
    assert len(_calls(cli, history, "--since", "1h")) == 7
    assert _calls(cli, history, "--since", "2999-01-01") == []
    assert [c["call_id"][:4] for c in _calls(cli, history, "-n", "2", "--outcome", "ok")] == ["ab12", "c0ff"]
    for bad in ("yesterday", "5 parsecs", "-3h", "2026-13-45", ""):
        code, _, err = cli(history, "receipts", "tail", f"--since={bad}")
        assert code == 2 and "give a duration" in err, bad
    code, _, err = cli(history, "receipts", "tail", "--outcome", "maybe")
    assert code == 2 and "invalid choice" in err


def test_show_takes_what_tail_prints_and_unique_prefixes(history: Path, cli: Any) -> None:
    for line in cli(history, "receipts", "tail")[1].splitlines()[1:-1]:
        code, out, err = cli(history, "receipts", "show", line.split()[0], "--json")
        assert code == 0, (line, err)
        assert json.loads(out)["call_id"].startswith(line.split()[0])
    assert json.loads(cli(history, "receipts", "show", "c0f", "--json")[1])["call_id"] == CALLS[2][0]
    shown = th(history, "receipts", "show", "ab")  # one as a person runs it: a real process
    assert shown.returncode == 2
    assert shown.stderr.strip() == (
        f"tollhouse receipts: 'ab' is the start of several call ids: {CALLS[1][0]}, {CALLS[0][0]}; "
        "give more of it"
    )
    for missing in ("ff", "ab%", "ab_", "AB12"):  # LIKE's wildcards and case do not widen a prefix
        code, _, err = cli(history, "receipts", "show", missing)
        assert code == 2 and "no receipt with seq or call id" in err, missing
    assert json.loads(cli(history, "receipts", "show", "3", "--json")[1])["call_id"] == CALLS[1][0]


def test_show_escapes_what_the_model_wrote(history: Path) -> None:
    out = th(history, "receipts", "show", "d00d")
    assert out.returncode == 0 and "\x1b" not in out.stdout and "\\x1b[31mred" in out.stdout


def test_follow_prints_new_calls_until_ctrl_c(history: Path) -> None:
    proc = subprocess.Popen(
        tollhouse_cmd("receipts", "tail", "--follow", "--json", "-n", "1", "--tool", "files_list"),
        cwd=history, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)  # let it print the (empty) tail and start polling
        assert th(history, "call", "files_list", "{}").returncode == 0
        assert th(history, "call", "files_read", '{"path": "nope"}').returncode == 1  # filtered out
        assert th(history, "call", "files_list", '{"path": "."}').returncode == 0
        lines: list[dict] = []
        deadline = time.monotonic() + 20
        while len(lines) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if line:
                lines.append(json.loads(line))
        assert [c["tool"] for c in lines] == ["files_list", "files_list"]
        assert all(c["outcome"] == "ok" and c["receipts"] for c in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
