"""Where the config comes from, and what a broken one does: nothing starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tollhouse.config import ConfigError, find_config, load_config

POLICY = '[[rules]]\nid = "r"\ntools = ["files_read"]\neffect = "allow"\n'


def test_search_order_explicit_then_env_then_upward(tmp_path: Path, monkeypatch) -> None:
    upward = write_config(tmp_path, POLICY)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    via_env = write_config(other, POLICY)
    monkeypatch.delenv("TOLLHOUSE_CONFIG", raising=False)
    assert find_config(cwd=deep) == upward
    monkeypatch.setenv("TOLLHOUSE_CONFIG", str(via_env))
    assert find_config(cwd=deep) == via_env
    assert find_config(str(upward), cwd=deep) == upward.resolve()
    assert find_config(str(tmp_path), cwd=deep) == upward.resolve()  # a folder means its tollhouse.toml


def test_missing_files_are_clear(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOLLHOUSE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"\$TOLLHOUSE_CONFIG names .*nope.toml, which does not exist"):
        find_config(cwd=tmp_path)
    monkeypatch.delenv("TOLLHOUSE_CONFIG")
    with pytest.raises(ConfigError, match="run `tollhouse init`"):
        find_config(cwd=tmp_path)


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("[workspace]\nroots = ['.']\n[bogus]\nx = 1\n", "unknown section [bogus]", 3),
        ("[receipts]\ncheckpoint_evry = 5\n", "unknown key receipts.checkpoint_evry", 1),
        ("[[rules]]\nid = 'a'\ntools = = ['x']\n", "not valid TOML", 3),
        ("[workspace]\nroots = ['missing-folder']\n", "is not a folder", 1),
        ("[receipts]\nsynchronous = 'sometimes'\n", "receipts.synchronous: normal or full", None),
    ],
)
def test_bad_configs_name_file_line_and_fix(tmp_path: Path, text: str, needle: str, line) -> None:
    path = tmp_path / "tollhouse.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert needle in str(info.value) and str(path) in str(info.value)
    assert info.value.line == line


def test_serve_refuses_to_start_with_a_broken_policy(tmp_path: Path) -> None:
    write_config(tmp_path, '[[rules]]\nid = "oops"\ntools = ["files_read"]\neffect = "allow"\npath = ["x"]\n')
    proc = subprocess.run(
        tollhouse_cmd("serve"), cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "oops" in proc.stderr and "tollhouse.toml:" in proc.stderr
    assert not (tmp_path / ".tollhouse" / "receipts.db").exists()  # nothing opened, nothing ran


def test_serve_start_up_imports_no_provider_sdk() -> None:
    code = (
        "import sys\n"
        "from tollhouse.cli import build_parser; build_parser()\n"
        "import tollhouse.server.runner, tollhouse.server.face, tollhouse.gate.gate\n"
        "from tollhouse.tools import build_registry; build_registry()\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'google.genai', 'yaml') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("witnesses", "said"),
    [
        ('["http://example.com/w"]', "plain http is for loopback addresses only; use https"),
        ('["ftp://example.com/w"]', 'must be a list of "file:/path/to/folder" or "https://host/path"'),
        ('["relative/folder"]', 'must be a list of "file:/path/to/folder" or "https://host/path"'),
        ("[1]", 'must be a list of "file:/path/to/folder" or "https://host/path"'),
    ],
)
def test_receipt_witnesses_are_checked_when_the_config_loads(
    tmp_path: Path, witnesses: str, said: str
) -> None:
    path = write_config(tmp_path, f"[receipts]\nwitnesses = {witnesses}\n")
    with pytest.raises(ConfigError, match=said.replace("(", r"\(").replace(".", r"\.")):
        load_config(path)
    ok = write_config(tmp_path, '[receipts]\nwitnesses = ["file:/srv/w", "https://w.example/log"]\n')
    assert load_config(ok).receipts.witnesses == ("file:/srv/w", "https://w.example/log")
