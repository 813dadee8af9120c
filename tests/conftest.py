"""Shared fixtures: a real temporary workspace with a tollhouse.toml, and subprocess helpers."""

from __future__ import annotations

import os
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def receipt_rows(state_dir: Path, call_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored receipt row (of one call, if given) in chain order, as plain dicts, read-only."""
    db = Path(state_dir) / "receipts.db"
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        if call_id is None:
            return [dict(r) for r in conn.execute("SELECT * FROM receipts ORDER BY seq")]
        found = conn.execute("SELECT * FROM receipts WHERE call_id = ? ORDER BY seq", (call_id,))
        return [dict(r) for r in found]
    finally:
        conn.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running `python -m tollhouse` from this checkout, installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TOLLHOUSE_CONFIG", None)
    env.update(extra)
    return env


def tollhouse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tollhouse", *args]


def write_config(root: Path, body: str) -> Path:
    """Write a tollhouse.toml and trust it, as the operator would with `tollhouse policy trust`."""
    path = root / "tollhouse.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    trust_config(path)
    return path


def trust_config(path: Path) -> None:
    """Record ``path``'s current text as trusted in this test's operator home (TOLLHOUSE_HOME)."""
    from tollhouse.trust import record_trust

    record_trust(Path(path), Path(path).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _operator_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own operator home, so trust records and keys never leak between tests
    (or into the real one); subprocesses inherit it through the environment."""
    home = tmp_path_factory.mktemp("operator-home")
    monkeypatch.setenv("TOLLHOUSE_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as outside CI even on a CI runner: a gate there adds a "process" event receipt
    (tollhouse/receipts/process.py ci_context) that tests counting receipts do not expect. Tests of
    the CI context set these variables themselves."""
    for name in list(os.environ):
        if name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI") or name.startswith("TOLLHOUSE_CI_"):
            monkeypatch.delenv(name)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def key_dir(state_dir: Path) -> Path:
    """Where the receipt-signing key pair of the store in ``state_dir`` lives (outside the workspace)."""
    from tollhouse.receipts.signing import key_dir as _key_dir

    return _key_dir(Path(state_dir))


def http_token_file(root: Path) -> Path:
    """Where `serve --http` keeps the generated token of the workspace at ``root`` (outside it)."""
    from tollhouse.opdirs import secrets_dir

    return secrets_dir(Path(root) / ".tollhouse") / "http-token"
