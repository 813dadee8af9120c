"""A small runner for composite actions, close to what GitHub's runner does with action.yml:

inputs resolved from their defaults and ``with``; each step's ``if`` evaluated (``success()`` unless
it says ``always()``), ``${{ }}`` expressions in ``env``/``with``/``working-directory`` substituted;
``run`` steps run by ``bash`` with the step's env on top of the job's, no TTY (stdin /dev/null);
``$GITHUB_ENV``, ``$GITHUB_PATH`` and ``$GITHUB_OUTPUT`` files read back after each step as the
runner does. ``uses`` steps are recorded (and checked by the caller), not run: setup-python and
upload-artifact are GitHub's, not ours.

Only the expression grammar our action.yml uses is supported; anything else raises, so the action
cannot quietly grow a condition this runner would misread.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\))|(?P<call>always\(\)|success\(\)|failure\(\))"
    r"|(?P<ref>[A-Za-z_][A-Za-z0-9_.-]*))"
)


@dataclass
class StepResult:
    id: str | None
    kind: str  # "run", "uses" or "skipped"
    outcome: str  # success, failure, skipped
    code: int = 0
    stdout: str = ""
    stderr: str = ""
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    env: dict[str, str]
    """The job's environment (GITHUB_*, RUNNER_TEMP...) before any step ran."""
    temp: Path
    path_prefix: list[str] = field(default_factory=list)
    added_env: dict[str, str] = field(default_factory=dict)
    failed: bool = False

    def step_env(self) -> dict[str, str]:
        env = {**self.env, **self.added_env}
        env["PATH"] = os.pathsep.join([*reversed(self.path_prefix), env.get("PATH", "")])
        return env


def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value = []
            i += 1
            while lines[i] != delim:
                value.append(lines[i])
                i += 1
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


class Expr:
    def __init__(self, inputs: dict[str, str], steps: dict[str, dict[str, Any]], job: Job) -> None:
        self.inputs, self.steps, self.job = inputs, steps, job

    def value(self, ref: str) -> str:
        parts = ref.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.inputs[parts[1]]
        if parts[0] == "steps" and len(parts) == 3 and parts[2] == "outcome":
            return self.steps.get(parts[1], {}).get("outcome", "")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get("outputs", {}).get(parts[3], "")
        if parts[0] == "github" and parts[1] == "action_path":
            return self.job.env["GITHUB_ACTION_PATH"]
        raise ValueError(f"expression reference not supported by this runner: {ref}")

    def evaluate(self, text: str) -> Any:
        pos, py = 0, []
        while pos < len(text.rstrip()):
            m = _TOKEN.match(text, pos)
            if not m:
                raise ValueError(f"cannot parse expression {text!r} at {pos}")
            pos = m.end()
            if m["str"] is not None:
                py.append(repr(m["str"][1:-1].replace("''", "'")))
            elif m["op"] is not None:
                py.append({"&&": " and ", "||": " or ", "!": " not "}.get(m["op"], m["op"]))
            elif m["call"] is not None:
                py.append({"always()": "True", "success()": repr(not self.job.failed),
                           "failure()": repr(self.job.failed)}[m["call"]])  # fmt: skip
            else:
                py.append(repr(self.value(m["ref"])))
        return eval(" ".join(py), {"__builtins__": {}}, {})  # only literals and operators remain

    def substitute(self, text: str) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(self.evaluate(m.group(1))), str(text))

    def condition(self, text: str | None) -> bool:
        if text is None:
            return not self.job.failed
        text = text.strip().removeprefix("${{").removesuffix("}}")
        uses_status = re.search(r"\b(always|success|failure)\(\)", text)
        ok = bool(self.evaluate(text))
        return ok if uses_status else ok and not self.job.failed


def run_action(action_dir: Path, with_: dict[str, str], job: Job, cwd: Path) -> list[StepResult]:
    spec = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    assert spec["runs"]["using"] == "composite"
    unknown = set(with_) - set(spec["inputs"])
    assert not unknown, f"inputs the action does not declare: {unknown}"
    inputs = {name: str(d.get("default", "")) for name, d in spec["inputs"].items()}
    inputs.update(with_)
    job.env["GITHUB_ACTION_PATH"] = str(action_dir)
    steps: dict[str, dict[str, Any]] = {}
    expr = Expr(inputs, steps, job)
    results = []
    for step in spec["runs"]["steps"]:
        sid = step.get("id")
        if not expr.condition(step.get("if")):
            results.append(StepResult(sid, "skipped", "skipped"))
            if sid:
                steps[sid] = {"outcome": "skipped", "outputs": {}}
            continue
        if "uses" in step:
            given = {k: expr.substitute(v) for k, v in (step.get("with") or {}).items()}
            results.append(StepResult(sid, "uses", "success", uses=step["uses"], with_=given))
            continue
        results.append(_run_step(step, expr, job, cwd, steps))
    return results


def _run_step(step: dict[str, Any], expr: Expr, job: Job, cwd: Path, steps: dict) -> StepResult:
    sid = step.get("id")
    assert step.get("shell") == "bash", "every run step names its shell"
    files = {name: job.temp / f"{name.lower()}-{len(steps)}-{os.urandom(4).hex()}"
             for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}  # fmt: skip
    for f in files.values():
        f.touch()
    env = job.step_env()
    env.update({k: str(v) for k, v in files.items()})
    env.update({k: expr.substitute(v) for k, v in (step.get("env") or {}).items()})
    where = cwd / expr.substitute(step.get("working-directory", "."))
    # GitHub runs `bash --noprofile --norc -eo pipefail {0}` on a file holding the step's script.
    script = job.temp / f"step-{os.urandom(4).hex()}.sh"
    script.write_text(expr.substitute(step["run"]), encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=where, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    outputs = _read_env_file(files["GITHUB_OUTPUT"])
    job.added_env.update(_read_env_file(files["GITHUB_ENV"]))
    job.path_prefix += [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
    outcome = "success" if done.returncode == 0 else "failure"
    if outcome == "failure":
        job.failed = True
    if sid:
        steps[sid] = {"outcome": outcome, "outputs": outputs}
    return StepResult(sid, "run", outcome, done.returncode, done.stdout, done.stderr)
