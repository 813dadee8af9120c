"""Tools for the policy tests: real Tool objects with the facet shapes the families produce.

Pointed at by ``[tools] modules = ["tests.policy.fake_tools"]`` in the test configs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from tollhouse.tools.base import Effect, Facets, Tool


class PathIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str


class WriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    content: str = ""


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    destination: str


class ShellIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    argv: list[str] | None = None
    command: str | None = None
    cwd: str = "."


class RepoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repo: str
    number: int = 1


class FetchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str


class MemoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    namespace: str
    key: str
    value: str = ""


async def _noop(args: BaseModel, ctx: object) -> dict:
    return {}


# Arguments that make a harmless-looking command run another program (as a shell family flags them).
_EXEC_FLAGS = {"git": {"-c", "--exec-path", "--config-env"}, "find": {"-exec", "-execdir", "-ok"}}


def shell_facets(args: BaseModel) -> Facets:
    assert isinstance(args, ShellIn)
    if args.command is not None:
        return {"command": [args.command], "paths": [args.cwd]}
    argv = list(args.argv or [])
    guarded: list[str] = []
    flags = _EXEC_FLAGS.get(argv[0], set()) if argv else set()
    i = 1
    while i < len(argv):
        if argv[i] in flags:
            guarded.append(str(i))
            if i + 1 < len(argv):
                guarded.append(str(i + 1))
            i += 2
            continue
        i += 1
    return {"argv": argv, "argv_guarded": guarded, "paths": [args.cwd]}


def repo_facets(args: BaseModel) -> Facets:
    assert isinstance(args, RepoIn)
    return {"repos": [args.repo]}


def fetch_facets(args: BaseModel) -> Facets:
    assert isinstance(args, FetchIn)
    host = urlsplit(args.url).hostname
    return {"domains": [host]} if host else {}


R, W, X, N = Effect.READ, Effect.WRITE, Effect.EXEC, Effect.NETWORK

TOOLS = [
    Tool("files_read", "Read", "Read a file.", PathIn, _noop, frozenset({R}), "files", path_fields=("path",)),
    Tool("files_stat", "Stat", "Stat a file.", PathIn, _noop, frozenset({R}), "files", path_fields=("path",)),
    Tool(
        "files_write",
        "Write",
        "Write a file.",
        WriteIn,
        _noop,
        frozenset({W}),
        "files",
        path_fields=("path",),
    ),
    Tool(
        "files_move",
        "Move",
        "Move a file.",
        MoveIn,
        _noop,
        frozenset({W}),
        "files",
        path_fields=("source", "destination"),
    ),
    Tool(
        "shell_run", "Run", "Run a command.", ShellIn, _noop, frozenset({X}), "shell", facets_of=shell_facets
    ),
    Tool(
        "github_get_issue",
        "Issue",
        "Get an issue.",
        RepoIn,
        _noop,
        frozenset({N}),
        "github",
        facets_of=repo_facets,
    ),
    Tool("web_fetch", "Fetch", "Fetch a URL.", FetchIn, _noop, frozenset({N}), "web", facets_of=fetch_facets),
    Tool("memory_put", "Remember", "Store a note.", MemoryIn, _noop, frozenset({W}), "memory"),
]
