from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import receipt_rows, trust_config

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
    trust_config(path)  # export and the skills' `tollhouse call` lines refuse an untrusted policy
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
    return receipt_rows(config.state_dir, call_id)
