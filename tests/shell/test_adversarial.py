"""The adversarial suite against the tool and the agreed policy semantics (see cases.py).

Every case ends as expected and the marker file the payload would create never appears. Cases that
policy allows really run; cases refused are never handed to the tool (the gate-level run of the same
cases is in test_gate_cases.py).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from tests.shell.cases import CASES, RULES, Case
from tests.shell.conftest import Runner, make_config
from tests.shell.policy_ref import decide
from tests.shell.suite import build_world
from tollhouse.tools.base import PolicyDenied, ToolError
from tollhouse.tools.shell import SHELL_RUN, ShellRunInput


def test_suite_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_case(case: Case, tmp_path: Path, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(tmp_path, ws)
    if "ws_on_path" in case.setup:
        monkeypatch.setenv("PATH", f"{ws / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = make_config(ws)
    args = world.args(case)
    model = ShellRunInput.model_validate(args)
    facets = SHELL_RUN.facets(model)

    if case.expect == "shell":
        assert set(facets) == {"command", "paths"} and facets["command"] == [args["command"]]
    elif case.expect != "cwd":
        assert "command" not in facets
    if case.guarded:
        assert facets["argv_guarded"], f"{case.id}: no exec-capable token was guarded in {facets['argv']}"

    decision = decide(facets, RULES, config.workspace)
    if case.expect in ("shell", "deny", "cwd"):
        assert decision == "deny", f"{case.id} would be allowed: {facets}"
        if case.guarded:
            # Even a rule allowing the program with any arguments does not cover the exec-capable form.
            wide = [f"{shlex.quote(facets['argv'][0])} *"]
            assert decide(facets, wide, config.workspace) == "deny", f"{case.id}: `{wide[0]}` covers it"
    else:
        assert decision == "allow", f"{case.id} should pass policy: {facets}"
        run = Runner(config)
        if case.expect == "allow":
            result = await run(**args)
            assert result.mode == "argv"
        elif case.expect == "tool_deny":
            with pytest.raises(PolicyDenied) as info:
                await run(**args)
            assert info.value.rule == case.rule
        else:
            with pytest.raises(ToolError):
                await run(**args)
    assert not world.marker.exists(), f"{case.id}: the payload ran"
