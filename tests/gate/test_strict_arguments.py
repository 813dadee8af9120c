"""The gate validates arguments as the master JSON Schema says, for every face: no coercion of
strings to numbers or booleans, numbers to strings, or anything else; receipts show the schema's
public (alias) names; the unknown-tool error lists only tools a face could have been shown."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import receipt_rows, write_config
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

pytestmark = pytest.mark.anyio

CONFIG = """
[tools]
families = []
modules = ["tests.gate.typed_tools"]

[[rules]]
id = "typed"
tools = ["ty_typed", "ty_alias"]
effect = "allow"
"""


@pytest.fixture
async def gate(workspace: Path):
    async with await Gate.open(load_config(write_config(workspace, CONFIG))) as g:
        yield g


COERCIBLE = [
    {"count": "7"},
    {"count": 7.5},
    {"count": True},
    {"flag": "yes"},
    {"flag": "true"},
    {"flag": 1},
    {"flag": 0},
    {"ratio": "0.5"},
    {"ratio": False},
    {"colour": "RED"},
    {"colour": 1},
    {"mode": "FAST"},
    {"names": "abc"},
    {"names": [1, 2]},
    {"names": {"a": 1}},
    {"pair": [1, "2"]},
    {"pair": [1, 2, 3]},
    {"inner": {"depth": "3"}},
    {"inner": {"depth": 3, "on": "off"}},
    {"label": 5},
    {"label": b"x".decode() and ["x"]},
]

ACCEPTED = [
    {},
    {"count": 7},
    {"count": 7.0},  # JSON Schema's integer: a number with no fractional part
    {"flag": True},
    {"ratio": 1},  # an integer is a number
    {"colour": "blue", "mode": "slow"},
    {"names": ["a"], "pair": [1, 2]},
    {"inner": {"depth": 3, "on": True}, "label": None},
]


async def test_no_coercion(gate: Gate) -> None:
    schema = gate.registry.get("ty_typed").input_schema()
    for args in COERCIBLE:
        assert not jsonschema.Draft202012Validator(schema).is_valid(args), args  # the master says no
        outcome = await gate.call(Call(tool="ty_typed", arguments=args))
        assert outcome.status == "error" and outcome.decision is None, (args, outcome)
        assert outcome.message.startswith("invalid arguments for ty_typed: "), outcome.message


async def test_valid_json_still_accepted(gate: Gate) -> None:
    schema = gate.registry.get("ty_typed").input_schema()
    for args in ACCEPTED:
        assert jsonschema.Draft202012Validator(schema).is_valid(args), args
        outcome = await gate.call(Call(tool="ty_typed", arguments=args))
        assert outcome.status == "ok", (args, outcome.message)
    outcome = await gate.call(Call(tool="ty_typed", arguments={"count": 7.0}))
    assert outcome.result["count"] == 7 and isinstance(outcome.result["count"], int)


async def test_receipts_use_public_names(gate: Gate, workspace: Path) -> None:
    outcome = await gate.call(Call(tool="ty_alias", arguments={"from": "x", "user-id": 3}))
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"class": "x"}
    rows = receipt_rows(gate.config.state_dir, outcome.call_id)
    assert json.loads(rows[0]["arguments"]) == {"from": "x", "user-id": 3}
    assert all("from_" not in (r["arguments"] or "") + (r["excerpt"] or "") for r in rows)
    assert '"class"' in rows[-1]["excerpt"] and "class_" not in rows[-1]["excerpt"]
    # the Python field name is not an argument name the schema knows
    bad = await gate.call(Call(tool="ty_alias", arguments={"from_": "x"}))
    assert bad.status == "error" and "unknown argument 'from_'" in bad.message


async def test_unknown_tool_lists_only_tools_a_face_could_show(gate: Gate) -> None:
    outcome = await gate.call(Call(tool="ty_nope", arguments={}))
    assert outcome.message == "unknown tool 'ty_nope'; available tools: ty_alias, ty_typed"


async def test_policy_explain_and_grant_judge_arguments_like_the_gate(
    gate: Gate, monkeypatch, capsys
) -> None:
    from tollhouse.cli import main
    from tollhouse.cli.grant_cmd import _exact_digest

    monkeypatch.chdir(gate.config.root)
    assert main(["policy", "explain", "ty_typed", '{"count": "7"}']) == 2
    assert "count: Input should be a valid integer" in capsys.readouterr().err
    assert main(["policy", "explain", "ty_typed", '{"count": 7.0}']) == 0
    # `grant --exact` binds the digest the gate computes (public names, strict values)
    outcome = await gate.call(Call(tool="ty_alias", arguments={"from": "x"}))
    receipt = receipt_rows(gate.config.state_dir, outcome.call_id)[0]
    assert _exact_digest(gate.config, "ty_alias", '{"from": "x"}') == receipt["args_digest"]
