"""A tool whose decision needs a state lookup (a memory write superseding a fact) is replayed with
the lookup against the state database; without one, the call is unknown, not a pass."""

from __future__ import annotations

import json

import anyio

from tests.conftest import write_config
from tollhouse.cli import main
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

POLICY = """
[tools]
families = ["memory"]

[[rules]]
id = "runbooks"
tools = ["memory_write"]
args = { subject = "runbook:*" }
effect = "allow"
"""


async def record(config) -> tuple:
    async with await Gate.open(config) as gate:
        write = {"subject": "runbook:a", "predicate": "p", "object": "o"}
        first = await gate.call(Call("memory_write", write))
        assert first.status == "ok", first.message
        write = {"subject": "runbook:b", "predicate": "p", "object": "o", "supersedes": first.result["id"]}
        second = await gate.call(Call("memory_write", write))
        assert second.status == "ok", second.message
    return first, second


def test_lookup_is_replayed_or_unknown(workspace, monkeypatch, capsys) -> None:
    first, second = anyio.run(record, load_config(write_config(workspace, POLICY)))
    # the candidate scopes writes to runbook:b only: retiring runbook:a is now denied
    (workspace / "new.toml").write_text(POLICY.replace('"runbook:*"', '"runbook:b"'))
    monkeypatch.chdir(workspace)
    assert main(["replay", "--policy", "new.toml", "--json", "--all"]) == 1
    calls = {c["call_id"]: c for c in json.loads(capsys.readouterr().out)["calls"]}
    assert calls[first.call_id]["change"] == "tightened"  # runbook:a itself is out of scope now
    assert calls[second.call_id]["change"] == "tightened"  # looked up: it retires runbook:a
    (workspace / ".tollhouse" / "state.db").rename(workspace / "moved.db")
    assert main(["replay", "--policy", "tollhouse.toml", "--json", "--all"]) == 1
    calls = {c["call_id"]: c for c in json.loads(capsys.readouterr().out)["calls"]}
    assert calls[first.call_id]["change"] == "same"  # nothing to look up
    assert calls[second.call_id]["change"] == "unknown"
    assert calls[second.call_id]["reason"].startswith(
        "the state lookup for memory_write failed: no state database"
    )
