"""Bad input to `tollhouse run` gets a clear error (exit 2) and sends nothing to the provider:
no model request, no receipt, no file touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.run.helpers import API_KEY, sample_workspace
from tests.run.loopback import Loopback, Step
from tollhouse.cli import main

CASES = [
    (["--provider", "openai", "   "], "", "the goal is empty"),
    (["--provider", "openai", "--max-turns", "0", "go"], "", "--max-turns must be at least 1"),
    (["--provider", "anthropic", "--case", "C-404", "go"], "", "no case 'C-404'"),
    (
        ["--provider", "gemini", "go"],
        '\n[credentials."gemini:loop"]\nsource = "env:NOT_SET_ANYWHERE_1"\n',
        None,
    ),
    (
        ["--provider", "openai", "go"],
        "BASE=http://api.example.com/v1",
        "plain http is only allowed to a loopback",
    ),
    (["--provider", "openai", "go"], "BASE=ftp://127.0.0.1/v1", "must be an http(s) URL"),
    (["--provider", "anthropic", "go"], "KEY=temperature", "unknown key run.anthropic.temperature"),
    (["--provider", "openai", "--model", " ", "go"], "", "--model must not be empty"),
]


@pytest.mark.parametrize(("argv", "change", "message"), CASES)
def test_refused_before_any_request(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], change: str, message: str | None,
) -> None:  # fmt: skip
    with Loopback([Step(text="never")], api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        config = workspace / "tollhouse.toml"
        text = config.read_text()
        if change.startswith("BASE="):
            text = text.replace(loop.base_url("openai"), change[5:], 1)
        elif change.startswith("KEY="):
            text = text.replace('[run."anthropic"]\n', f'[run."anthropic"]\n{change[4:]} = 1\n', 1)
        elif change:
            text = text.replace('[credentials."gemini:loop"]', '[credentials."gemini:unused"]') + change
        if text != config.read_text():
            from tests.conftest import trust_config

            config.write_text(text)
            trust_config(config)
        before = {
            p: p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".tollhouse" not in p.parts
        }
        monkeypatch.chdir(workspace)
        code = main(["run", *argv])
        err = capsys.readouterr().err
        assert not loop.requests, "nothing may reach the provider"
    assert code == 2, err
    if message is None:
        assert "NOT_SET_ANYWHERE_1" in err and "gemini:loop" in err
    else:
        assert message in err
    after = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file() and ".tollhouse" not in p.parts}
    assert after == before
    db = workspace / ".tollhouse" / "receipts.db"
    if db.exists():
        import sqlite3

        assert sqlite3.connect(db).execute(
            "SELECT count(*) FROM receipts WHERE kind = 'model'"
        ).fetchone() == (0,)
