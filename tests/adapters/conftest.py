from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

CONFIG = """
[tools]
families = []
modules = ["tests.adapters.fixture_tools"]

[[rules]]
id = "adapters-allow"
tools = ["ad_echo", "ad_fail", "ad_slow"]
effect = "allow"
"""


def make_config(root: Path):
    from tollhouse.config import parse_config

    path = root / "tollhouse.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return parse_config(path.read_text(), path)


@pytest.fixture
def config(workspace: Path):
    return make_config(workspace)


@pytest.fixture
async def gate(config):
    from tollhouse.gate.gate import Gate

    g = await Gate.open(config)
    async with g:
        yield g


def receipts(config, call_id: str | None = None) -> list[dict]:
    conn = sqlite3.connect(config.state_dir / "receipts.db")
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM receipts ORDER BY seq")]
    finally:
        conn.close()
    return [r for r in rows if call_id is None or r.get("call_id") == call_id]
