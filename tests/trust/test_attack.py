"""Finding 1 of issue 13, as an agent would try it: rewrite the policy, then hope the next serve or
call obeys it. Every variant must leave the gate refusing to start, with nothing run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import subprocess_env
from tests.trust.conftest import refusal, sha, snapshot, th

# A narrow rule (so the policy's own examples still pass and it would load): what an agent would add.
EVIL_RULE = '\n[[rules]]\nid = "pwn"\ntools = ["shell_run"]\nargv = ["touch *"]\neffect = "allow"\n'
TOUCH = json.dumps({"argv": ["touch", "PWNED"]})

TEST_FILE = f"""\
from pathlib import Path


def test_helper():
    config = Path(__file__).resolve().parents[1] / "tollhouse.toml"
    with config.open("a") as fh:
        fh.write({EVIL_RULE!r})
"""


@pytest.fixture
def dev(workspace: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    out = th(workspace, "init", "--profile", "dev")
    assert out.returncode == 0, out.stderr
    return workspace


def _server_params(root: Path, **extra: str) -> StdioServerParameters:
    env = subprocess_env(TOLLHOUSE_CONFIG=str(root / "tollhouse.toml"), **extra)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    names = ("PYTHONPATH", "TOLLHOUSE_CONFIG", "TOLLHOUSE_HOME", "PATH", "HOME")
    keep = {k: env[k] for k in names if k in env}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


def _assert_refused(root: Path, config: Path, trusted: str | None, *extra: str, **env: str) -> None:
    """serve, call and export all refuse with the exact message; nothing ran, nothing changed."""
    before = snapshot(root)
    expected = refusal(config, trusted, sha(config))
    call = th(root, *extra, "call", "shell_run", TOUCH, **env)
    assert (call.returncode, call.stderr, call.stdout) == (9, expected, "")
    serve = th(root, *extra, "serve", stdin="", **env)
    assert (serve.returncode, serve.stderr) == (9, expected)
    for target in (("openai",), ("skills", "--out", "skills", "--install", "project")):
        export = th(root, *extra, "export", *target, **env)  # the provider exports and Agent Skills
        assert (export.returncode, export.stderr, export.stdout) == (9, expected, "")
    assert not (root / "PWNED").exists()
    assert snapshot(root) == before  # not a receipt, not a byte


def test_the_agents_own_test_rewrites_the_policy_and_the_next_serve_and_call_refuse(dev: Path) -> None:
    """The reviewed attack through a real MCP stdio session under `init --profile dev`."""
    config = dev / "tollhouse.toml"
    trusted = sha(config)

    async def agent() -> list[str]:
        seen = []
        async with Client(_server_params(dev)) as client:
            denied = await client.call_tool("shell_run", {"argv": ["touch", "PWNED"]})
            seen.append(f"touch:{denied.is_error}")
            wrote = await client.call_tool(
                "files_write", {"path": "tests/test_helper.py", "content": TEST_FILE}
            )
            seen.append(f"write:{wrote.is_error}")
            await client.call_tool("shell_run", {"argv": ["pytest", "-q"]})
            # The same server keeps the trusted policy: the appended rule is not obeyed here either.
            again = await client.call_tool("shell_run", {"argv": ["touch", "PWNED"]})
            seen.append(f"touch-again:{again.is_error}")
        return seen

    seen = anyio.run(agent)
    assert seen == ["touch:True", "write:False", "touch-again:True"]
    assert not (dev / "PWNED").exists()
    if sha(config) != trusted:  # the test ran and appended its rule (no sandbox kept it read-only)
        assert config.read_text().endswith(EVIL_RULE)
        _assert_refused(dev, config, trusted)
    else:  # a sandbox kept the policy read-only: the trusted policy still holds
        touch = th(dev, "call", "shell_run", TOUCH)
        assert touch.returncode == 3 and not (dev / "PWNED").exists()


def _same_size_allow(text: str) -> str:
    """`move-delete` asks -> allows, a comment shortened to keep the byte count (a size check misses it)."""
    changed = text.replace('effect = "ask"', 'effect = "allow"', 1)
    changed = changed.replace("folders are denied;", "folders are deny;", 1)
    assert len(changed) == len(text) and changed != text
    return changed


@pytest.mark.parametrize(
    "variant", ["append", "replace", "same-size", "crlf", "env-config", "config-flag", "symlink-swap"]
)
def test_every_way_of_changing_the_policy_in_force_is_refused(dev: Path, variant: str) -> None:
    config = dev / "tollhouse.toml"
    text = config.read_text()
    trusted: str | None = sha(config)
    extra: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if variant == "append":
        with config.open("a") as fh:
            fh.write(EVIL_RULE)
    elif variant == "replace":
        fresh = dev / "tests.tmp"
        fresh.write_text(text + EVIL_RULE)
        os.replace(fresh, config)
    elif variant == "same-size":
        config.write_text(_same_size_allow(text))
        assert config.stat().st_size == len(text.encode())
    elif variant == "crlf":
        config.write_bytes(text.replace("\n", "\r\n").encode())
    elif variant in ("env-config", "config-flag"):
        other = dev / "src" / "tollhouse.toml"
        other.parent.mkdir()
        other.write_text(text + EVIL_RULE)
        config, trusted = other, None
        if variant == "env-config":
            env["TOLLHOUSE_CONFIG"] = str(other)
        else:
            extra = ("--config", str(other))
    elif variant == "symlink-swap":
        # tollhouse.toml is a link into policies/, trusted as it pointed; the agent repoints it.
        policies = dev / "policies"
        policies.mkdir()
        (policies / "a.toml").write_text(text)
        (policies / "b.toml").write_text(text + EVIL_RULE)
        config.unlink()
        config.symlink_to(policies / "a.toml")
        assert th(dev, "policy", "trust").returncode == 0
        trusted = sha(config)
        assert th(dev, "call", "shell_run", TOUCH).returncode == 3  # trusted, and denies touch
        # Named explicitly, the link is judged at its own place too (the same record, still trusted).
        assert th(dev, "--config", str(config), "call", "shell_run", TOUCH).returncode == 3
        config.unlink()
        config.symlink_to(policies / "b.toml")
    _assert_refused(dev, config, trusted, *extra, **env)


def test_a_symlink_repointed_at_identical_text_is_still_the_trusted_policy(dev: Path) -> None:
    config = dev / "tollhouse.toml"
    copy = dev / "docs" / "copy.toml"
    copy.parent.mkdir()
    copy.write_bytes(config.read_bytes())
    config.unlink()
    config.symlink_to(copy)
    assert th(dev, "call", "shell_run", TOUCH).returncode == 3  # the same bytes: trusted, and it denies


def test_an_operator_home_inside_the_workspace_is_refused(dev: Path) -> None:
    """Trust records (and keys) an agent could write are no trust at all: refuse, whatever they say."""
    home = dev / ".operator"
    out = th(dev, "init", "--force", TOLLHOUSE_HOME=str(home))
    assert out.returncode == 9 and not home.exists()
    message = (
        f"the operator home {home} lies inside the workspace root {dev}, where tools can read and write "
        "it (trust records, signing keys, tokens); set TOLLHOUSE_HOME to a folder outside every "
        "workspace root"
    )
    assert out.stderr == f"tollhouse: {message}\n"
    # Even a record the agent planted there for the exact file is not accepted.
    from tollhouse.trust import record_trust

    os.environ["TOLLHOUSE_HOME"] = str(home)
    try:
        record_trust(dev / "tollhouse.toml", (dev / "tollhouse.toml").read_text())
    finally:
        del os.environ["TOLLHOUSE_HOME"]
    before = snapshot(dev)
    for args in (("call", "shell_run", TOUCH), ("serve",), ("export", "mcp"), ("policy", "trust")):
        out = th(dev, *args, stdin="", TOLLHOUSE_HOME=str(home))
        suffix = "; nothing trusted" if args[0] == "policy" else ""
        assert (out.returncode, out.stderr) == (9, f"tollhouse: {message}{suffix}\n"), args
    assert snapshot(dev) == before


def test_an_operator_home_beside_narrower_roots_is_still_inside_the_workspace(workspace: Path) -> None:
    (workspace / "src").mkdir()
    from tests.conftest import write_config

    write_config(workspace, '[workspace]\nroots = ["src"]\n')
    home = workspace / ".operator"
    out = th(workspace, "call", "files_list", '{"path": "."}', TOLLHOUSE_HOME=str(home))
    assert (
        out.returncode == 9
        and f"the operator home {home} lies inside the workspace root {workspace}," in out.stderr
    )
