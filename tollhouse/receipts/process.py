"""Which process wrote an intent, and whether it still runs.

An identity is ``host:pid:start``. ``start`` tells a live process from a later one that reused its
pid: on Linux it is the boot id prefix and the process start time in clock ticks since boot (from
``/proc``); elsewhere it is ``?`` and only the pid is checked.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

UNKNOWN_START = "?"


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return "noboot"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may itself hold spaces or ')')."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_token(pid: int) -> str:
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return UNKNOWN_START
    return f"{_boot_id()}-{fields[19]}"  # field 22 of stat (starttime); the list starts at field 3


@functools.cache
def current_identity() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_token(pid)}"


def parse_identity(identity: str) -> tuple[str, int, str] | None:
    parts = identity.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), parts[2]


def is_alive(identity: str | None) -> bool:
    """False only when we can tell the writer has ended; another host's process counts as alive.

    A zombie (ended, not yet reaped by its parent) has ended: it will never write an outcome.
    """
    parsed = parse_identity(identity) if identity else None
    if parsed is None:
        return True  # unknown writer: never close someone else's call on a guess
    host, pid, start = parsed
    if host != socket.gethostname():
        return True
    if not _pid_running(pid):
        return False
    fields = _stat_fields(pid)
    if fields is not None and fields and fields[0] == "Z":
        return False
    if start == UNKNOWN_START:
        return True
    return start_token(pid) == start


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


# -- the CI run a process belongs to ----------------------------------------------------------------

# Which CI run, commit and actor a process works for: (field, variable) per CI system, read from the
# environment the CI runner sets. Recorded once per gate as an ``event`` receipt (``details.event =
# "process"``) next to this process's identity, so every call whose ``process`` field names it is tied
# to the run. Values pass the redactor like every other field.
_GITHUB = (
    ("run_id", "GITHUB_RUN_ID"),
    ("run_attempt", "GITHUB_RUN_ATTEMPT"),
    ("commit", "GITHUB_SHA"),
    ("workflow", "GITHUB_WORKFLOW"),
    ("job", "GITHUB_JOB"),
    ("actor", "GITHUB_ACTOR"),
    ("repository", "GITHUB_REPOSITORY"),
    ("ref", "GITHUB_REF"),
    ("event", "GITHUB_EVENT_NAME"),
)
_GITLAB = (
    ("run_id", "CI_PIPELINE_ID"),
    ("job_id", "CI_JOB_ID"),
    ("commit", "CI_COMMIT_SHA"),
    ("workflow", "CI_PIPELINE_NAME"),
    ("job", "CI_JOB_NAME"),
    ("actor", "GITLAB_USER_LOGIN"),
    ("repository", "CI_PROJECT_PATH"),
    ("ref", "CI_COMMIT_REF_NAME"),
    ("url", "CI_PIPELINE_URL"),
)
CI_FIELDS = ("run_id", "commit", "workflow", "actor", "repository", "ref")
"""Any CI system can name these with ``TOLLHOUSE_CI_<FIELD>`` (e.g. ``TOLLHOUSE_CI_RUN_ID``); they
override what was read from the runner's own variables."""
_MAX_VALUE = 512


def ci_variables(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables ``ci_context`` reads that are set: for a server started by an MCP
    client that passes only a few variables on (``tollhouse install --print`` copies these)."""
    env = dict(os.environ) if env is None else env
    names = {"CI", "GITHUB_ACTIONS", "GITHUB_SERVER_URL", "GITLAB_CI"}
    names |= {v for _, v in (*_GITHUB, *_GITLAB)} | {f"TOLLHOUSE_CI_{n.upper()}" for n in CI_FIELDS}
    return {n: env[n] for n in sorted(names) if env.get(n)} if ci_context(env) else {}


def ci_context(env: dict[str, str] | None = None) -> dict[str, str]:
    """The CI run this process belongs to, or {} outside CI."""
    env = dict(os.environ) if env is None else env
    out: dict[str, str] = {}
    if env.get("GITHUB_ACTIONS") == "true":
        out["system"] = "github-actions"
        out.update({k: env[v] for k, v in _GITHUB if env.get(v)})
        server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
        run = env.get("GITHUB_RUN_ID")
        if server and repo and run:
            out["url"] = f"{server}/{repo}/actions/runs/{run}"
    elif env.get("GITLAB_CI") == "true":
        out["system"] = "gitlab-ci"
        out.update({k: env[v] for k, v in _GITLAB if env.get(v)})
    elif env.get("CI", "").lower() in ("true", "1", "yes"):
        out["system"] = "ci"
    for name in CI_FIELDS:
        value = env.get(f"TOLLHOUSE_CI_{name.upper()}")
        if value:
            out.setdefault("system", "ci")
            out[name] = value
    # A runner's variables are set by whoever configures the job: keep each value short.
    return {k: v[:_MAX_VALUE] for k, v in out.items()}
