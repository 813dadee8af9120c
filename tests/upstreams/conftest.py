"""Upstreams behind the gate: real MCP servers (the tiny Python one, the npm reference servers) as
stdio subprocesses, trusted the way an operator would, called through a real gate."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_config
from tollhouse.config import load_config

HERE = Path(__file__).parent
TINY = HERE / "tiny_server.py"


def tiny_upstream(name: str = "tiny", **extra: str) -> str:
    lines = [
        "[[upstreams]]",
        f'name = "{name}"',
        f'command = ["{sys.executable}", "{TINY}"]',
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def make_config(root: Path, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    head = "[tools]\nfamilies = []\n\n[limits]\ntimeout_s = 20\n\n"
    return write_config(root, head + textwrap.dedent(body))


_PROBES: dict[tuple[Any, ...], Any] = {}


async def trust_upstream(root: Path, name: str, *, cached: bool = False) -> Any:
    """What `tollhouse upstream trust NAME --yes` does. ``cached``: reuse what an earlier start of
    the same command offered (the tests' servers answer the same every time), sparing a start."""
    from tollhouse.upstreams import admin

    config = load_config(root / "tollhouse.toml")
    spec = admin.find_spec(config, name)
    probed = _PROBES.get(spec.command) if cached else None
    if probed is None:
        probed = await admin.probe(config, spec)
        assert probed.error is None, probed.error
        if cached:  # only what a cached caller asked for: another may have changed the server
            _PROBES[spec.command] = probed
    probed.spec = spec
    review = admin.review(config, spec, probed, set())
    admin.trust(config, review)
    return review


async def open_gate(root: Path) -> Any:
    from tollhouse.gate.gate import Gate

    return await Gate.open(load_config(root / "tollhouse.toml"))


def call(tool: str, arguments: dict[str, Any], **kw: Any) -> Any:
    from tollhouse.gate.types import Call

    return Call(tool=tool, arguments=arguments, channel="cli", **kw)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
