"""`tollhouse demo`: a guided tour of the gate over a real MCP connection, in a throwaway workspace."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes

DEMO_CONFIG = """\
# Written by `tollhouse demo`: a small policy over the real file and shell tools.
[tools]
families = ["files", "shell"]

[[rules]]
id = "notes-read"
description = "Notes may be read and listed freely."
tools = ["files_read", "files_list"]
paths = ["notes/**"]
effect = "allow"

[[rules]]
id = "notes-write-asks"
description = "Writing a note needs a person's yes."
tools = ["files_write"]
paths = ["notes/**"]
effect = "ask"

[[rules]]
id = "no-secrets"
description = "Nothing under secrets/ is ever touched."
tools = ["files_*"]
paths = ["secrets/**"]
effect = "deny"

[[rules]]
id = "echo"
description = "The shell may run echo, and nothing else."
tools = ["shell_run"]
argv = ["echo *"]
effect = "allow"
"""


@dataclass
class Step:
    name: str
    expected: str
    got: str = ""
    ok: bool = False


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="see the gate work: a real MCP session against `tollhouse serve` in a temp workspace",
        description="Create a temporary workspace with a small policy, start `tollhouse serve` as a "
        "stdio subprocess, connect an MCP client and walk through: list tools, an allowed call, a "
        "denied call, a shell-injection attempt, a call that asks for approval (answered through MCP "
        "elicitation), reading the receipts resource, and `tollhouse receipts verify`. Exits 0 only "
        "if every step behaved as designed.",
    )
    p.add_argument("--ask", action="store_true", help="answer the approval prompt yourself (y/n)")
    p.add_argument("--keep", action="store_true", help="keep the temporary workspace and print its path")
    p.add_argument("--mode", choices=("auto", "legacy"), default="auto", help="MCP protocol era to use")
    p.set_defaults(handler=run)


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content).strip()


def _status(result: Any) -> str | None:
    """The gate's status for a call (``_meta["tollhouse/status"]``: ok, denied, error...)."""
    meta = getattr(result, "meta", None) or {}
    return meta.get("tollhouse/status")


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


async def _tour(root: Path, interactive: bool, mode: str, steps: list[Step]) -> None:
    import anyio
    import mcp_types as types
    from mcp import Client, StdioServerParameters

    from tollhouse.server.clients import _needs_pythonpath

    # The demo's own operator home (beside the workspace, never inside it): its trust record and
    # signing key leave nothing behind in the person's real one.
    env = {"TOLLHOUSE_CONFIG": str(root / "tollhouse.toml"), "TOLLHOUSE_HOME": os.environ["TOLLHOUSE_HOME"]}
    pythonpath = _needs_pythonpath()
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    params = StdioServerParameters(
        command=sys.executable, args=["-P", "-m", "tollhouse", "serve"], env=env, cwd=str(root)
    )
    prompts: list[str] = []

    async def on_elicit(ctx: Any, p: Any) -> types.ElicitResult:
        prompts.append(p.message)
        print(textwrap.indent(p.message, "    | "))
        if interactive:
            reply = await anyio.to_thread.run_sync(input, "    approve? [y/N] ")
            answer = reply.strip().lower() in ("y", "yes")
        else:
            answer = True
            print("    (approving automatically; run `tollhouse demo --ask` to answer yourself)")
        return types.ElicitResult(action="accept", content={"approve": answer})

    async with Client(params, mode=mode, elicitation_callback=on_elicit) as client:
        step = Step("list tools", "the files and shell tools, with annotations")
        steps.append(step)
        tools = (await client.list_tools()).tools
        names = sorted(t.name for t in tools)
        step.got = f"{len(names)} tools: {_short(', '.join(names), 48)}"
        step.ok = {"files_read", "files_write", "shell_run"} <= set(names) and all(
            t.annotations for t in tools
        )

        step = Step("allowed call", "files_read notes/welcome.txt runs (rule notes-read)")
        steps.append(step)
        r = await client.call_tool("files_read", {"path": "notes/welcome.txt"})
        content = (r.structured_content or {}).get("content") or ""
        step.got = _short(_text(r)) if r.is_error else f"ok: {_short(content, 40)}"
        step.ok = not r.is_error and "welcome" in content

        step = Step("denied call", "files_read secrets/api-key.txt denied, rule no-secrets named")
        steps.append(step)
        r = await client.call_tool("files_read", {"path": "secrets/api-key.txt"})
        step.got = _short(_text(r))
        step.ok = bool(r.is_error) and "no-secrets" in _text(r) and "sk-demo" not in _text(r)

        step = Step("shell injection", "`echo hi; touch pwned` refused before anything runs")
        steps.append(step)
        r = await client.call_tool("shell_run", {"command": "echo hi; touch pwned"})
        step.got = _short(_text(r))
        # Refused by the gate (a denial naming why), not failed for some other reason such as bad
        # arguments: an error alone would also be "not run".
        step.ok = _status(r) == "denied" and not (root / "pwned").exists()

        step = Step("ask -> elicitation", "files_write notes/todo.txt asks; the answer decides")
        steps.append(step)
        r = await client.call_tool("files_write", {"path": "notes/todo.txt", "content": "try tollhouse"})
        written = (root / "notes" / "todo.txt").exists()
        step.got = f"asked {len(prompts)}x; " + ("written" if written else _short(_text(r), 40))
        approved = not interactive or written
        step.ok = (
            len(prompts) == 1
            and "notes-write-asks" in prompts[0]
            and (written == approved)
            and (r.is_error != written)
        )

        step = Step("receipts resource", "tollhouse://receipts/recent shows these calls")
        steps.append(step)
        res = await client.read_resource("tollhouse://receipts/recent")
        data = json.loads(res.contents[0].text)
        outcomes = [e.get("outcome") for e in data["receipts"] if e.get("kind") == "outcome"]
        step.got = f"{len(data['receipts'])} receipts; outcomes {sorted(set(filter(None, outcomes)))}"
        step.ok = "denied" in outcomes and "ok" in outcomes

    step = Step("receipts verify", "the chain and its signatures check out")
    steps.append(step)
    cmd = [
        sys.executable,
        "-P",
        "-m",
        "tollhouse",
        "--config",
        str(root / "tollhouse.toml"),
        "receipts",
        "verify",
    ]
    # The MCP session is closed (the server has exited); this runs the public command as a user would.
    proc = await anyio.to_thread.run_sync(
        lambda: subprocess.run(cmd, capture_output=True, text=True, env={**_base_env(), **env}, timeout=60)
    )
    lines = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    step.got = _short(lines[-1] if lines else f"exit {proc.returncode}")
    step.ok = proc.returncode == 0


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "TOLLHOUSE_CONFIG"}


def _table(steps: list[Step]) -> str:
    rows = [("", "step", "expected", "got")] + [
        ("OK" if s.ok else "FAIL", s.name, s.expected, s.got) for s in steps
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import anyio

    from tollhouse.trust import record_trust

    tmp = tempfile.mkdtemp(prefix="tollhouse-demo-")
    root = Path(tmp) / "workspace"
    root.mkdir()
    os.environ["TOLLHOUSE_HOME"] = str(Path(tmp) / "operator-home")
    (root / "tollhouse.toml").write_text(DEMO_CONFIG, encoding="utf-8")
    record_trust(root / "tollhouse.toml", DEMO_CONFIG)  # the demo's policy, trusted as `init` would
    (root / "notes").mkdir()
    (root / "notes" / "welcome.txt").write_text("welcome to tollhouse\n", encoding="utf-8")
    (root / "secrets").mkdir()
    (root / "secrets" / "api-key.txt").write_text("sk-demo-not-a-real-key\n", encoding="utf-8")
    print(f"demo workspace: {root}")
    print(f"starting `tollhouse serve` over stdio and connecting ({args.mode} mode)...\n")
    steps: list[Step] = []
    error = None
    try:
        anyio.run(_tour, root, args.ask, args.mode, steps)
    except Exception as exc:  # the table still shows how far it got
        error = f"{type(exc).__name__}: {exc}"
    print()
    print(_table(steps))
    if error:
        print(f"\nthe demo stopped early: {error}")
    if args.keep:
        print(
            f"\nworkspace kept: {root}  (try `TOLLHOUSE_HOME={tmp}/operator-home "
            f"tollhouse --config {root}/tollhouse.toml receipts verify`)"
        )
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    ok = error is None and len(steps) == 7 and all(s.ok for s in steps)
    print("\nevery step behaved as designed" if ok else "\nsome steps did not behave as designed")
    return exitcodes.OK if ok else exitcodes.TOOL_ERROR
