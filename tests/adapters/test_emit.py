"""Emitted definitions are built or validated with each provider's own SDK types; skills follow the
Agent Skills rules."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import mcp_types
import pytest
import yaml
from anthropic.types import ToolParam
from google.genai import types as gtypes
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import FunctionTool, FunctionToolParam
from pydantic import TypeAdapter

from tests.adapters import fixture_tools
from tests.adapters.tricky import CASES
from tollhouse.adapters import anthropic, gemini, mcp, openai, skills
from tollhouse.adapters.export import export
from tollhouse.adapters.spec import Spec

TOOLS = fixture_tools.TOOLS
TRICKY = [Spec(name=f"t_{c.name}", title=c.name, description=f"tricky {c.name}.", input_schema=c.schema,
               family="tricky") for c in CASES]  # fmt: skip


def test_openai_chat_and_responses_tools_pass_sdk_types() -> None:
    chat = openai.chat_tools(TRICKY)
    assert len(chat) == len(CASES)
    adapter = TypeAdapter(ChatCompletionFunctionToolParam)
    for tool in chat:
        assert adapter.validate_python(tool) == tool  # nothing dropped or renamed by the SDK type
        assert json.loads(json.dumps(tool)) == tool
    responses = openai.responses_tools(TRICKY, strict=False)
    for tool in responses:
        assert TypeAdapter(FunctionToolParam).validate_python(tool) == tool
        FunctionTool.model_validate(tool)  # the shape the API echoes back
        assert tool["strict"] is False
    by_name = {t["function"]["name"]: t["function"] for t in chat}
    assert by_name["t_free_form_map"]["strict"] is False and by_name["t_defaults"]["strict"] is True


def test_anthropic_tools_pass_sdk_types() -> None:
    for tool in anthropic.tools(TRICKY):
        assert TypeAdapter(ToolParam).validate_python(tool) == tool
        assert tool["input_schema"]["type"] == "object"
        assert "strict" not in tool  # never strict: see "Why Anthropic tools are never sent with strict"


def test_gemini_declarations_are_sdk_objects_and_wire_json() -> None:
    decls = gemini.function_declarations(TRICKY)
    assert all(isinstance(d, gtypes.FunctionDeclaration) for d in decls)
    wire = export("gemini", TRICKY)
    back = gtypes.Tool.model_validate(wire)  # camelCase wire JSON parses back into the SDK type
    assert [d.name for d in back.function_declarations] == [d.name for d in decls]
    zero = next(d for d in decls if d.name == "t_zero_args")
    assert zero.parameters_json_schema is None and zero.parameters is None


def test_mcp_view_keeps_master_schema() -> None:
    listed = mcp.tools(TOOLS)
    assert all(isinstance(t, mcp_types.Tool) for t in listed)
    echo = next(t for t in listed if t.name == "ad_echo")
    assert echo.input_schema == fixture_tools.EchoIn.model_json_schema()
    assert echo.annotations.read_only_hint is True
    wire = mcp.tools_list_json(TOOLS)
    assert wire["tools"][0]["inputSchema"]["type"] == "object"
    mcp_types.ListToolsResult.model_validate(wire)


def test_unknown_export_target_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown export target 'openapi'; choose one of openai"):
        export("openapi", TOOLS)


def test_skills_follow_frontmatter_rules(tmp_path: Path) -> None:
    folders = skills.write_skills(TOOLS + TRICKY, tmp_path / "out")
    assert [f.name for f in folders] == ["tollhouse-adtest", "tollhouse-tricky"]
    for folder in folders:
        assert skills.validate_skill(folder) == []
        text = (folder / "SKILL.md").read_text()
        front = yaml.safe_load(text.split("---")[1])  # a real YAML parser agrees with ours
        assert front == skills.frontmatter(text)
        assert set(front) <= skills.ALLOWED_KEYS and front["name"] == folder.name
        assert 1 <= len(front["description"]) <= 1024 and "Use when" in front["description"]
    adtest = folders[0]
    body = (adtest / "SKILL.md").read_text()
    assert 'tollhouse call ad_echo \'{"text": "x"}\'' in body
    assert "ad_hidden" in body  # the Python API on a bare tool list has no policy to consult
    ref = (adtest / "references" / "ad_echo.md").read_text()
    assert "| `tag-name` | string or null | no | null | an optional label |" in ref
    tricky_desc = skills.frontmatter((folders[1] / "SKILL.md").read_text())["description"]
    assert 1000 < len(tricky_desc) <= 1024 and "…" in tricky_desc  # many tools: cut to the limit
    assert tricky_desc.endswith("leaves a signed receipt.")  # ...but never the "Use when" sentence


def test_skill_validator_rejects_bad_frontmatter(tmp_path: Path) -> None:
    def skill(name: str, front: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "SKILL.md").write_text(f"---\n{front}\n---\nbody\n")
        return folder

    assert skills.validate_skill(skill("a-b", 'name: a-b\ndescription: "ok"')) == []
    assert skills.validate_skill(skill("Bad_Name", 'name: Bad_Name\ndescription: "x"')) == [
        "name 'Bad_Name' must be 1-64 lowercase letters, digits and single hyphens"
    ]
    assert skills.validate_skill(skill("x-y", 'name: other\ndescription: "x"')) == [
        "name 'other' must match the folder name 'x-y'"
    ]
    assert skills.validate_skill(skill("my-claude", 'name: my-claude\ndescription: "x"')) == [
        "name 'my-claude' must not contain anthropic or claude"
    ]
    long = json.dumps("x" * 1025)
    assert skills.validate_skill(skill("l", f"name: l\ndescription: {long}")) == [
        "description must be 1-1024 characters"
    ]
    assert skills.validate_skill(skill("t", 'name: t\ndescription: "a <b>"\nwhen: x')) == [
        "unexpected frontmatter key 'when'",
        "description must not contain angle brackets",
    ]


def test_zip_and_install(tmp_path: Path, monkeypatch) -> None:
    folders = skills.write_skills(TOOLS, tmp_path / "out")
    archive = skills.zip_skill(folders[0])
    with zipfile.ZipFile(archive) as zf:
        assert "tollhouse-adtest/SKILL.md" in zf.namelist()
        assert "tollhouse-adtest/references/ad_echo.md" in zf.namelist()
    project = tmp_path / "project"
    installed = skills.install(folders, "project", project)
    assert installed == [project / ".claude" / "skills" / "tollhouse-adtest"]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert skills.install(folders, "user", project)[0].parent == tmp_path / "home" / ".claude" / "skills"
    skills.install(folders, "project", project)  # our own earlier output is replaced
    foreign = project / ".claude" / "skills" / "tollhouse-other"
    foreign.mkdir()
    (foreign / "SKILL.md").write_text("---\nname: tollhouse-other\n---\n")
    clash = _renamed(folders[0], tmp_path, "tollhouse-other")
    with pytest.raises(FileExistsError, match="was not generated by tollhouse"):
        skills.install([clash], "project", project)
    assert (foreign / "SKILL.md").read_text() == "---\nname: tollhouse-other\n---\n"  # untouched


def _renamed(folder: Path, tmp: Path, name: str) -> Path:
    import shutil

    dest = tmp / "renamed" / name
    shutil.copytree(folder, dest)
    return dest
