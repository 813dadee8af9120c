"""`tollhouse upstream list|test|trust|diff` as a real subprocess."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.upstreams.conftest import make_config, tiny_upstream
from tollhouse.config import load_config
from tollhouse.upstreams.pins import load_pins
from tollhouse.upstreams.spec import parse_upstreams


def run(root, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=root, env=subprocess_env(), capture_output=True, text=True,
        input=stdin, timeout=120,
    )  # fmt: skip


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_trust_needs_yes_off_a_terminal_then_pins_and_list_shows_it(tmp_path) -> None:
    root = tmp_path / "ws"
    make_config(root, tiny_upstream())
    spec = parse_upstreams(load_config(root / "tollhouse.toml"))[0]
    listed = run(root, "upstream", "list")
    assert listed.returncode == 0 and "NOT TRUSTED" in listed.stdout
    refused = run(root, "upstream", "trust", "tiny", stdin="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "added: echo" in refused.stdout
    assert load_pins(root, spec) is None  # nothing was recorded
    trusted = run(root, "upstream", "trust", "tiny", "--yes")
    assert trusted.returncode == 0, trusted.stderr
    assert {"crash", "echo", "hang", "leak"} <= set(load_pins(root, spec).tools)
    same = run(root, "upstream", "diff", "tiny")
    assert same.returncode == 0 and "no change since it was trusted" in same.stdout
    missing = run(root, "upstream", "trust", "nope", "--yes")
    assert missing.returncode == 2 and "no upstream named 'nope'" in missing.stderr
