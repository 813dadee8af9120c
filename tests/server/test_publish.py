"""`serve` publishes only what policy could allow, narrowed by --read-only and --families; a tool it
does not list is refused by name (a clear error and a receipt), and nothing it would do happens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.server.conftest import receipts
from tollhouse.config import load_config
from tollhouse.gate.policy import Policy
from tollhouse.tools import build_registry

pytestmark = pytest.mark.anyio

CASES = ("case://", "tollhouse://cases")


def init(root: Path, profile: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    out = subprocess.run(
        tollhouse_cmd("init", "--profile", profile),
        cwd=root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return root


def params(root: Path, *flags: str) -> StdioServerParameters:
    env = subprocess_env(TOLLHOUSE_CONFIG=str(root / "tollhouse.toml"))
    keep = {
        k: env[k] for k in ("PYTHONPATH", "TOLLHOUSE_CONFIG", "PATH", "HOME", "TOLLHOUSE_HOME") if k in env
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve", *flags], env=keep, cwd=str(root)
    )


def could_allow(root: Path) -> set[str]:
    config = load_config(root / "tollhouse.toml")
    registry = build_registry(config.tool_families, config.tool_modules)
    policy = Policy.load(config, registry)
    return {t.name for t in registry if policy.could_allow(t)}


async def listing(root: Path, *flags: str) -> tuple[dict, list[str], list[str]]:
    async with Client(params(root, *flags)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        resources += [r.uri_template for r in (await client.list_resource_templates()).resource_templates]
        prompts = [p.name for p in (await client.list_prompts()).prompts]
    return tools, resources, prompts


async def refused(root: Path, tool: str, arguments: dict, *flags: str) -> str:
    async with Client(params(root, *flags)) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text


def last_outcome(root: Path, tool: str) -> dict:
    return [r for r in receipts(root) if r["kind"] == "outcome" and r["tool"] == tool][-1]


async def test_readonly_profile_lists_only_what_policy_could_allow(workspace: Path) -> None:
    ws = init(workspace, "readonly")
    tools, _, _ = await listing(ws)
    allowed = could_allow(ws)
    assert set(tools) == allowed and 0 < len(tools) < len(build_registry())
    for name in ("files_write", "files_delete", "shell_run", "memory_write", "github_comment"):
        assert name not in tools
    for name in ("files_write", "shell_run", "files_move"):
        args = {
            "files_write": {"path": "src/new.py", "content": "pwned"},
            "shell_run": {"argv": ["touch", "pwned"]},
            "files_move": {"source": "src/app.py", "destination": "src/moved.py"},
        }[name]
        text = await refused(ws, name, args)
        assert f"tool {name!r} is not served here: no rule in the policy could allow it" in text
        row = last_outcome(ws, name)
        assert row["outcome"] == "error" and "not served here" in row["message"]
    assert not (ws / "src" / "new.py").exists() and not (ws / "pwned").exists()
    assert (ws / "src" / "app.py").exists() and not (ws / "src" / "moved.py").exists()


async def test_read_only_flag_serves_only_tools_whose_effects_are_read(workspace: Path) -> None:
    ws = init(workspace, "dev")
    full, _, _ = await listing(ws)
    tools, _, _ = await listing(ws, "--read-only")
    assert tools and set(tools) < set(full)
    assert all(t.annotations.read_only_hint for t in tools.values())
    assert {"files_read", "files_list"} <= set(tools) and "files_write" in full
    text = await refused(
        ws, "files_write", {"path": "src/app.py", "content": "pwned", "overwrite": True}, "--read-only"
    )
    assert "not served here: it is not read-only (effects: write)" in text
    assert (ws / "src" / "app.py").read_text() == "print('hi')\n"
    text = await refused(ws, "shell_run", {"argv": ["touch", "pwned"]}, "--read-only")
    assert "not served here" in text and not (ws / "pwned").exists()


async def test_families_narrow_tools_and_case_resources(workspace: Path) -> None:
    ws = init(workspace, "dev")
    full, all_resources, all_prompts = await listing(ws)
    tools, resources, prompts = await listing(ws, "--families", "files,memory")
    assert tools and {t.split("_")[0] for t in tools} <= {"files", "memory"}
    assert {t for t in full if t.startswith(("files_", "memory_"))} == set(tools)
    assert "tollhouse://policy" in resources and not any(r.startswith(CASES) for r in resources)
    assert "resume_case" in all_prompts and "resume_case" not in prompts
    assert {"tollhouse://cases", "case://{id}"} <= set(all_resources)
    text = await refused(ws, "shell_run", {"argv": ["touch", "pwned"]}, "--families", "files,memory")
    assert "not served here: its family 'shell' is not served (serve --families)" in text
    assert not (ws / "pwned").exists()
    _, resources, prompts = await listing(ws, "--families", "cases")
    assert {"tollhouse://cases", "case://{id}"} <= set(resources) and "resume_case" in prompts


@pytest.mark.parametrize(
    ("value", "needle"),
    [("nope", "not a family this config loads: nope"), ("files,shel", "shel"), (",", "(none given)")],
)
def test_unknown_families_refuse_to_serve(workspace: Path, value: str, needle: str) -> None:
    ws = init(workspace, "dev")
    out = subprocess.run(
        tollhouse_cmd("serve", "--families", value), cwd=ws, env=subprocess_env(),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and needle in out.stderr, out.stderr


async def test_listing_costs_less_when_policy_hides_tools(workspace: Path) -> None:
    ws = init(workspace, "readonly")
    tools, _, _ = await listing(ws)
    served = sum(len(json.dumps(t.input_schema)) + len(t.description or "") for t in tools.values())
    registry = build_registry()
    every = sum(len(json.dumps(t.input_schema())) + len(t.description) for t in registry)
    assert served < every * 0.8
