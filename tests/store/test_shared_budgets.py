"""Budget usage in the shared store: a per-principal budget holds across server processes that
share only the store (on PostgreSQL each has its own workspace and key), and `tollhouse budgets`
reads the one count."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.gate.conftest import make_config

REPO = Path(__file__).resolve().parents[2]
BUDGET = """
[[budgets]]
id = "per-person"
tools = ["fx_*"]
principals = ["ci:*"]
per = "principal"
max_calls = 5
"""
CALLS = 4
DENIED = "denied by budget per-person: max_calls 5 calls made per principal (principal:ci:bot)"


@pytest.mark.parametrize("servers", [4])
def test_a_principal_max_calls_budget_holds_across_server_processes(
    backend: str | None, tmp_path: Path, servers: int
) -> None:
    store = f'[store]\nurl = "{backend}"\n' if backend else ""
    # SQLite: the servers share one workspace (its state.db). PostgreSQL: nothing but the store.
    roots = [tmp_path / (f"ws{i}" if backend else "ws") for i in range(servers)]
    configs = []
    for root in roots:
        root.mkdir(exist_ok=True)
        config = make_config(root, BUDGET + store)
        assert config.path is not None
        configs.append(config.path)
    procs = []
    try:
        for i, path in enumerate(configs):
            home = {"TOLLHOUSE_HOME": str(tmp_path / f"home{i}")} if backend else {}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.store.budget_helper", str(path), str(CALLS)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=subprocess_env(**home),
                    cwd=REPO,
                )
            )
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results += [json.loads(line) for line in out.splitlines()]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert sorted(status for status, _ in results) == ["denied"] * (servers * CALLS - 5) + ["ok"] * 5
    assert {message for status, message in results if status == "denied"} == {DENIED}
    # Every server's CLI reads the one count (on PostgreSQL, from any workspace using the store).
    shown = subprocess.run(
        tollhouse_cmd("budgets", "--json"), cwd=roots[-1], env=subprocess_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    [row] = json.loads(shown.stdout)["usage"]
    assert (row["budget"], row["scope"], row["calls"], row["reached"]) == (
        "per-person", "principal:ci:bot", 5, "max_calls",
    )  # fmt: skip
    if backend:
        for root in roots:  # nothing was counted in a workspace file
            assert _tables(root / ".tollhouse" / "state.db") & {"budget_usage", "budget_scopes"} == set()


def _tables(path: Path) -> set[str]:
    if not path.exists():
        return set()
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_budgets_cli_with_an_unreachable_store_says_so_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    make_config(root, BUDGET + '[store]\nurl = "postgresql://tollhouse@127.0.0.1:1/none"\n')
    shown = subprocess.run(
        tollhouse_cmd("budgets", "--json"), cwd=root, env=subprocess_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 7, (shown.stdout, shown.stderr)
    assert shown.stdout == ""
    assert shown.stderr.startswith(
        "tollhouse: cannot count budgets in the PostgreSQL store postgresql://tollhouse@127.0.0.1:1/none:"
    )
    assert _tables(root / ".tollhouse" / "state.db") == set()  # no fallback to the workspace file


def test_budgets_never_fall_back_to_sqlite_when_the_store_is_unreachable(tmp_path: Path) -> None:
    from tollhouse.gate.budgets import Budgets

    budgets = Budgets(tmp_path / "state.db", url="postgresql://tollhouse@127.0.0.1:1/none")
    with pytest.raises(Exception, match="cannot count budgets in the PostgreSQL store") as failed:
        budgets._db()
    assert type(failed.value).__name__ == "BudgetStoreError"
    assert not (
        tmp_path / "state.db"
    ).exists()  # never counted in SQLite instead (the gate denies: budget.error)
