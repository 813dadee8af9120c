"""Issue 14: no planted secret reaches the raw bytes of receipts.db, state.db (and their -wal files),
an exported bundle, a memory export, or anything served (tool results, resources, prompts).

One real `tollhouse serve` over stdio, driven by a real MCP client, plants secrets of several shapes in
every field a client controls: an unknown tool name, argument keys (an extra argument, a key of
shell_run's env), case ids (case_open's id, case_note's case_id, the _meta case), memory facts, case
notes and handoffs. An env: credential profile's value is planted too: it must be hidden before any
call resolves it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.secrets import assert_no_secret

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

GH = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
ANT = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0"
SLACK = "xoxb-" + "123456789012-abcdefghijKLMN"
AKIA = "AKIA" + "QWERTYUIOP234567"
GLPAT = "glpat-" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0." + "c2lnbmF0dXJlLXBsYW50ZWQtaGVyZQ"
PEM_BODY = "MIIEpAIBAAKCAQEAplantedKeyBodyLine0123456789abcdef"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
PROFILE_VALUE = "plain-profile-value-4242"  # no token shape: only known as a configured value
SECRETS = [GH, ANT, SLACK, AKIA, GLPAT, JWT, PEM_BODY, PROFILE_VALUE]

CONFIG = """\
[tools]
families = ["memory", "cases", "shell"]

[credentials."github:planted"]
source = "env:TH_PLANTED_PROFILE"

[[rules]]
id = "work"
tools = ["case_*", "memory_propose", "memory_search"]
effect = "allow"

[[rules]]
id = "echo"
tools = ["shell_run"]
argv = ["echo *"]
effect = "allow"
"""


def params(root: Path) -> StdioServerParameters:
    env = subprocess_env(TOLLHOUSE_CONFIG=str(root / "tollhouse.toml"), TH_PLANTED_PROFILE=PROFILE_VALUE)
    keep = {
        k: env[k]
        for k in ("PYTHONPATH", "TOLLHOUSE_CONFIG", "TOLLHOUSE_HOME", "PATH", "HOME", "TH_PLANTED_PROFILE")
        if k in env
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=keep, cwd=str(root)
    )


def _texts(result) -> str:  # type: ignore[no-untyped-def]
    return "".join(getattr(c, "text", "") for c in result.content) + repr(result.structured_content)


async def test_no_planted_secret_in_any_store_bundle_export_or_served_text(workspace: Path) -> None:
    write_config(workspace, CONFIG)
    served: list[str] = []
    async with Client(params(workspace)) as client:

        async def call(name: str, args: dict, **kw) -> str:  # type: ignore[no-untyped-def]
            text = _texts(await client.call_tool(name, args, **kw))
            served.append(text)
            return text

        await call(f"tool_x{GH}x", {"a": 1})  # an unknown tool name
        await call("case_open", {"title": f"Case {ANT}", "id": "c-1", "goal": f"reach {AKIA}x"})
        await call("case_open", {"id": 5, f"extra{SLACK}": 1})  # invalid: raw arguments, an extra key
        refused = await call("case_open", {"title": "t", "id": GLPAT})  # a case id that is a token
        assert "looks like a secret" in refused
        await call("case_note", {"case_id": "c-1", "text": f"note {JWT} and {PROFILE_VALUE}"})
        await call("case_note", {"case_id": GH, "text": "to a case id that is a token"})
        await call(
            "memory_propose",
            {"subject": "c-1", "predicate": "uses", "object": f"key {PEM}", "text": f"also x{GH}x"},
            meta={"tollhouse/case": f"x{GH}"},  # the _meta case
        )
        await call(
            "case_handoff",
            {"case_id": "c-1", "kind": "blocked", "summary": f"stuck on {PEM}", "blockers": [f"{SLACK}"]},
        )
        echoed = await call("shell_run", {"argv": ["echo", PROFILE_VALUE]})
        assert "[REDACTED:secret]" in echoed  # known from the start, no GitHub call resolved it
        await call("shell_run", {"argv": ["echo", "hi"], "env": {f"K_{GH}": "v"}})  # a key of env

        for uri in ("case://c-1", "case://c-1/receipts", "tollhouse://cases"):
            served.append((await client.read_resource(uri)).contents[0].text)
        prompt = await client.get_prompt("resume_case", {"case_id": "c-1"})
        served.append(prompt.messages[0].content.text)
    assert "Case [REDACTED:anthropic-key]" in served[-1]

    env = subprocess_env(TOLLHOUSE_CONFIG=str(workspace / "tollhouse.toml"), TH_PLANTED_PROFILE=PROFILE_VALUE)
    export = subprocess.run(
        tollhouse_cmd("memory", "export"), cwd=workspace, env=env, capture_output=True, timeout=60
    )
    assert export.returncode == 0, export.stderr
    assert b"[REDACTED:" in export.stdout
    bundle = workspace.parent / "bundle.jsonl"
    done = subprocess.run(
        tollhouse_cmd("receipts", "export", "--out", str(bundle)),
        cwd=workspace,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    stores = workspace / ".tollhouse"
    stored = _debug_dump(workspace)
    # Every planted field was stored (redacted), so the byte checks below check something.
    for planted in (
        "note [REDACTED:jwt] and [REDACTED:secret]",
        "stuck on [REDACTED:private-key]",
        "Case [REDACTED:anthropic-key]",
        "tool_x[REDACTED:github-token]",
        "extra[REDACTED:slack-token]",
        "K_[REDACTED:github-token]",
        "key [REDACTED:private-key]",
    ):
        assert planted in stored, planted
    assert (stores / "receipts.db").exists() and (stores / "state.db").exists()
    for secret in SECRETS:
        assert_no_secret([stores, bundle, export.stdout, export.stderr, done.stderr, *served], secret)


def _debug_dump(workspace: Path) -> str:
    import sqlite3

    out = []
    for db, sql in (
        (
            "state.db",
            "SELECT text FROM case_notes UNION ALL SELECT object || text FROM facts "
            "UNION ALL SELECT summary || blockers FROM handoffs UNION ALL SELECT title || goal FROM cases",
        ),
        (
            "receipts.db",
            "SELECT tool || ' ' || coalesce(case_id,'') || ' ' || coalesce(arguments,'') FROM receipts",
        ),
    ):
        conn = sqlite3.connect(workspace / ".tollhouse" / db)
        out += [r[0] for r in conn.execute(sql)]
        conn.close()
    return "\n".join(out)
