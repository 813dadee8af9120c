"""A workspace made by `tollhouse init`, and a way to run commands as a person would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd


def th(cwd: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True,
        input=stdin, timeout=60,
    )  # fmt: skip


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print('hi')\nprint('there')\n")
    out = th(workspace, "init")
    assert out.returncode == 0, out.stderr
    return workspace


HOSTILE = '</script><script>document.title="pwned"</script><img src=x onerror="document.title=1">'
"""Model-chosen text as a receipt may carry it: it must reach a person as text, never as markup."""

CALLS = [
    # call id, tool, decision, outcome (None: no outcome yet), approver, case, arguments, message
    ("ab12c0ffee000000000000000000aaaa", "files_read", "allow", "ok", None, None, {"path": "src/a.py"}, None),
    ("ab34d00d00000000000000000000bbbb", "files_write", "deny", "denied", None, "case-7",
     {"path": ".env", "content": HOSTILE}, "denied: no rule allows files_write"),
    ("c0ffee1111111111111111111111cccc", "files_delete", "ask", "ok", "local:alice@laptop", "case-7",
     {"path": "tmp/out.log"}, None),
    ("d00d222222222222222222222222dddd", "shell_run", "allow", "error", None, None,
     {"argv": ["pytest", "-q"]}, "exit status 1 \x1b[31mred\x1b[0m"),
    ("e1e1333333333333333333333333eeee", "files_move", "ask", None, None, None,
     {"src": "a", "dst": "b"}, None),
    ("f00f444444444444444444444444ffff", "<b>x</b>", "ask", "needs_approval",
     '<img src=x onerror="alert(1)">', "</script><!--", {"<script>": "]]>&amp;\u2028"}, HOSTILE),
]  # fmt: skip


async def _append_history(state_dir: Path) -> None:
    from tollhouse.gate.redact import Redactor
    from tollhouse.receipts import ReceiptStore, make_entry

    store = await ReceiptStore.open(state_dir, redactor=Redactor(), checkpoint_every=1000)
    for call_id, tool, decision, outcome, approver, case, arguments, message in CALLS:
        common = {"tool": tool, "channel": "mcp", "session": "s1", "case_id": case, "arguments": arguments}
        await store.append(make_entry("intent", call_id, decision=decision, rules=["r1"], **common))
        if outcome is not None:
            await store.append(
                make_entry(
                    "outcome", call_id, decision=decision, outcome=outcome, approver=approver,
                    message=message, duration_us=1500, **common,
                )
            )  # fmt: skip
    await store.append(make_entry("event", None, message="policy reloaded"))
    await store.close()


@pytest.fixture
def history(workspace: Path) -> Path:
    """A workspace whose receipts hold five calls (ok, denied, approved, error, pending) and an event."""
    import asyncio

    from tests.conftest import write_config

    rule = '[[rules]]\nid = "read"\ntools = ["files_read", "files_list"]\neffect = "allow"\n'
    write_config(workspace, rule)
    asyncio.run(_append_history(workspace / ".tollhouse"))
    return workspace


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `tollhouse ARGS` in this process (the real parser and handlers, no interpreter start-up),
    for read-only queries a test asks many times: (exit code, stdout, stderr)."""
    from tollhouse.cli import main

    monkeypatch.delenv("TOLLHOUSE_CONFIG", raising=False)

    def run(cwd: Path, *args: str) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own refusals
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
