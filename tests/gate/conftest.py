from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.conftest import trust_config
from tollhouse.config import parse_config

BASE = """
[tools]
families = []
modules = ["tests.gate.fixture_tools"]

[limits]
timeout_s = 5
max_argument_bytes = 4096
max_result_bytes = 100000

[redaction]
env = ["TOLLHOUSE_TEST_CANARY"]

[[rules]]
id = "read-all"
tools = ["fx_noop", "fx_echo", "fx_fail", "fx_crash", "fx_leak", "fx_guarded", "fx_big"]
effect = "allow"

[[rules]]
id = "notes-allowed"
tools = ["fx_note"]
paths = ["notes/**"]
effect = "allow"

[[rules]]
id = "notes-ask"
tools = ["fx_note"]
paths = ["drafts/**"]
effect = "ask"

[[rules]]
id = "no-secret-notes"
tools = ["fx_note"]
paths = ["notes/secret*"]
effect = "deny"

[[rules]]
id = "sleep"
tools = ["fx_sleep"]
effect = "allow"
"""


def make_config(root: Path, extra: str = ""):
    (root / "notes").mkdir(exist_ok=True)
    (root / "drafts").mkdir(exist_ok=True)
    text = textwrap.dedent(BASE) + textwrap.dedent(extra)
    path = root / "tollhouse.toml"
    path.write_text(text)
    trust_config(path)  # tests that run `tollhouse call` on it need it trusted
    return parse_config(text, path)


@pytest.fixture
def config(workspace: Path):
    return make_config(workspace)
