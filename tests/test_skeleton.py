import subprocess

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tollhouse.globs import compile_path_glob
from tollhouse.tools.base import Effect, Registry, Tool


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("src/**", "src", True),
        ("src/**", "src/a/b.py", True),
        ("src/**", "srcx/a.py", False),
        ("**/.env", ".env", True),
        ("**/.env", "a/b/.env", True),
        ("**/.env", "a/b/.envrc", False),
        ("*.py", "a/b.py", False),
        (".git/**", ".gitignore", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("[ab].txt", "c.txt", False),
        ("[!ab].txt", "c.txt", True),
    ],
)
def test_path_globs(pattern: str, path: str, matches: bool) -> None:
    assert bool(compile_path_glob(pattern).match(path)) is matches


def test_tool_names_must_be_portable() -> None:
    from pydantic import BaseModel

    class In(BaseModel):
        pass

    async def run(args, ctx):
        return None

    with pytest.raises(ValueError, match="must match"):
        Tool("Files.Read", "t", "d", In, run, frozenset({Effect.READ}), family="x")
    registry = Registry([Tool("files_read", "t", "d", In, run, frozenset({Effect.READ}), "files")])
    with pytest.raises(ValueError, match="duplicate"):
        registry.add(Tool("files_read", "t", "d", In, run, frozenset({Effect.READ}), "files"))


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        tollhouse_cmd("--help"), capture_output=True, text=True, env=subprocess_env(), check=True
    )
    assert "exit codes" in out.stdout


def test_descriptions_are_dedented_for_every_face() -> None:
    from pydantic import BaseModel

    class In(BaseModel):
        pass

    async def run(args, ctx):
        return None

    tool = Tool(
        "t_x",
        "T",
        """First line.
        Second line, indented in the source.
    """,
        In,
        run,
        frozenset({Effect.READ}),
        "x",
    )
    assert tool.description == "First line.\nSecond line, indented in the source."
