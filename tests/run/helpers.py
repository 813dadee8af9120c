"""A sample workspace for `tollhouse run` tests: a failing test the scripted model fixes."""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from tests.conftest import write_config
from tests.run.loopback import Loopback, Step

API_KEY = "sk-loop-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e"
"""The key the loopback server requires; a test asserts it never reaches a receipt."""

POLICY = """
[shell]
sandbox = "none"

[[rules]]
id = "read"
tools = ["files_read", "files_list", "files_search"]
effect = "allow"

[[rules]]
id = "edit-source"
tools = ["files_write"]
paths = ["src/**", "tests/**"]
effect = "allow"

[[rules]]
id = "run-tests"
tools = ["shell_run"]
argv = ["python -m pytest -q"]
effect = "allow"

[[rules]]
id = "cases"
tools = ["case_open", "case_handoff"]
effect = "allow"

[run]
max_retries = 3
max_retry_wait_s = 5
"""

FIXED = "def add(a, b):\n    return a + b\n"


def sample_workspace(root: Path, loop: Loopback, *, extra: str = "") -> Path:
    """src/calc.py with a bug, a test for it, and a policy + [run] tables pointing at ``loop``."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "src" / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "tests" / "test_calc.py").write_text(
        "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parents[1] / 'src'))\n"
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    key_file = root.parent / "loop.key"
    key_file.write_text(API_KEY + "\n")
    os.chmod(key_file, 0o600)
    tables = ""
    for provider in ("openai", "openai-responses", "anthropic", "gemini"):
        tables += (
            f'\n[run."{provider}"]\nbase_url = "{loop.base_url(provider)}"\n'
            f'credential = "{provider.split("-")[0]}:loop"\nmodel = "loop-model-1"\n'
        )
    creds = "".join(
        f'\n[credentials."{name}:loop"]\nsource = "file:{key_file}"\n'
        for name in ("openai", "anthropic", "gemini")
    )
    write_config(root, POLICY + tables + creds + extra)
    return root


def fix_and_test_script() -> list[Step]:
    """The acceptance task: write the fix and a new test in parallel, run pytest, then summarise."""
    return [
        Step(
            text="I will fix add() and add a test.",
            calls=[
                ("files_write", {"path": "src/calc.py", "content": FIXED, "overwrite": True}),
                ("files_write", {"path": "tests/test_more.py", "content": MORE_TEST}),
            ],
        ),
        Step(calls=[("shell_run", {"argv": ["python", "-m", "pytest", "-q"]})]),
        Step(text="Fixed add() and the tests pass."),
    ]


MORE_TEST = (
    "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parents[1] / 'src'))\n"
    "from calc import add\n\n\ndef test_negative():\n    assert add(-1, -1) == -2\n"
)


def open_case(root: Path, case_id: str) -> None:
    from tollhouse.state import cases
    from tollhouse.state.db import StateDB

    async def go() -> None:
        state = await StateDB.open(root / ".tollhouse" / "state.db")
        try:
            await cases.open_case(state, title="t", author="test", case_id=case_id)
        finally:
            await state.close()

    anyio.run(go)


def handoffs(root: Path, case_id: str) -> list:
    from tollhouse.state import cases
    from tollhouse.state.db import StateDB

    async def go() -> list:
        state = await StateDB.open(root / ".tollhouse" / "state.db")
        try:
            return await cases.handoffs(state, case_id)
        finally:
            await state.close()

    return anyio.run(go)
