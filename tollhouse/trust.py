"""Which policy file a person trusted, by hash, kept in the operator's home (outside every workspace).

The ``direnv allow`` model: ``tollhouse init`` and ``tollhouse policy trust`` record the sha256 of
``tollhouse.toml``; ``serve``, ``call`` and ``export`` refuse a policy whose hash is not recorded. An
agent that rewrites the file (a test it may run appends a rule) gets a server that will not start,
not a server that obeys the new rule.

A record per config file: ``<home>/trust/<sha256 of the path>.json`` holding the path, the sha256 of
the trusted text, when, and the text itself (so a later change can be shown as a diff). The path is
the file's folder resolved plus its own name *unresolved*: a ``tollhouse.toml`` that is a symlink
stays bound to the text trusted at that place, so swapping the link's target changes the hash.

The hash covers the config file's bytes alone: the config has no include mechanism. Anything that
ever adds includes must add the included files' bytes to ``policy_digest`` input.

CI trusts without a record: ``TOLLHOUSE_TRUST_POLICY=<sha256>`` names the one hash it accepts (a
record is then not consulted, and a file with any other hash is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tollhouse.opdirs import ensure_private_dir, operator_home

ENV_EXPECT = "TOLLHOUSE_TRUST_POLICY"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class UntrustedPolicy(Exception):
    """The policy file's hash is not one a person trusted (or the operator home is unsafe)."""


def policy_digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TrustRecord:
    path: str
    sha256: str
    trusted_at: float
    text: str


def trust_key_path(config_path: Path) -> str:
    """The place a record is bound to: the folder resolved, the file name as it is (see module doc)."""
    absolute = os.path.abspath(config_path)
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))


def _record_file(config_path: Path) -> Path:
    key = hashlib.sha256(os.fsencode(trust_key_path(config_path))).hexdigest()[:32]
    return operator_home() / "trust" / f"{key}.json"


def record_trust(config_path: Path, text: str) -> TrustRecord:
    """Trust ``text`` as the policy at ``config_path``; written atomically, readable by the operator only."""
    record = TrustRecord(trust_key_path(config_path), policy_digest(text), time.time(), text)
    target = _record_file(config_path)
    ensure_private_dir(target.parent)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record.__dict__, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return record


def trusted_record(config_path: Path) -> TrustRecord | None:
    try:
        data = json.loads(_record_file(config_path).read_text(encoding="utf-8"))
        record = TrustRecord(
            str(data["path"]), str(data["sha256"]), float(data["trusted_at"]), str(data["text"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # A record whose text does not hash to its own sha256 was not written by record_trust: ignore it.
    return record if policy_digest(record.text) == record.sha256 else None


def record_file(config_path: Path) -> Path:
    """Where the trust record of ``config_path`` is kept (whether or not it exists)."""
    return _record_file(config_path)


def record_stamp(record: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of a trust record file, or None: cheap to poll for a trust given elsewhere."""
    try:
        st = record.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


Status = Literal["trusted", "untrusted", "changed", "mismatch"]


@dataclass(frozen=True)
class TrustState:
    status: Status
    """``trusted``; ``untrusted`` (never trusted); ``changed`` (trusted once, the file differs since);
    ``mismatch`` (``TOLLHOUSE_TRUST_POLICY`` names another hash)."""
    path: Path
    sha256: str
    """The hash of the text judged."""
    trusted_sha256: str | None
    source: Literal["record", "env", "none"]
    record: TrustRecord | None = None

    @property
    def ok(self) -> bool:
        return self.status == "trusted"

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "file": str(self.path),
            "sha256": self.sha256,
            "trusted_sha256": self.trusted_sha256,
            "source": self.source,
            "trusted_at": self.record.trusted_at if self.record else None,
        }


def expected_from_env() -> str | None:
    """The hash ``TOLLHOUSE_TRUST_POLICY`` names, or None; raises UntrustedPolicy if it is malformed."""
    raw = os.environ.get(ENV_EXPECT)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower().removeprefix("sha256:")
    if not _HEX64.match(value):
        raise UntrustedPolicy(
            f"${ENV_EXPECT} must be the 64 hex digits of the policy's sha256 "
            "(`tollhouse policy trust --json` prints it), not " + repr(raw[:80])
        )
    return value


def trust_state(config_path: Path, text: str) -> TrustState:
    """Judge ``text`` (the exact text that will be parsed) as the policy at ``config_path``."""
    digest = policy_digest(text)
    path = Path(config_path)
    expected = expected_from_env()
    if expected is not None:
        status: Status = "trusted" if expected == digest else "mismatch"
        return TrustState(status, path, digest, expected, "env")
    record = trusted_record(path)
    if record is None:
        return TrustState("untrusted", path, digest, None, "none")
    status = "trusted" if record.sha256 == digest else "changed"
    return TrustState(status, path, digest, record.sha256, "record", record)


def _config_flag(path: Path) -> str:
    return f" --config {shlex.quote(str(path))}"


def refusal(state: TrustState) -> str:
    """What a refusing command prints: what is wrong, and exactly what to run."""
    flag = _config_flag(state.path)
    short = state.sha256[:12]
    if state.status == "mismatch":
        return (
            f"policy {state.path} is not trusted: its sha256 is {state.sha256}, but ${ENV_EXPECT} expects "
            f"{state.trusted_sha256}; nothing was run. Review the file (`tollhouse policy diff{flag}`) and "
            f"update ${ENV_EXPECT} if the change is yours"
        )
    if state.status == "changed":
        lead = (
            f"policy {state.path} changed since you trusted it (trusted sha256 "
            f"{(state.trusted_sha256 or '')[:12]}, now {short}); nothing was run"
        )
    else:
        lead = f"policy {state.path} is not trusted (sha256 {short}); nothing was run"
    return (
        f"{lead}. See what changed with `tollhouse policy diff{flag}`, then accept it with "
        f"`tollhouse policy trust{flag}`"
    )


def guarded_folders(config: Any) -> list[Path]:
    """The folders the operator home must stay out of: every workspace root, and the config's folder
    (which holds ``.tollhouse/``) even when the roots are narrower."""
    return [*config.workspace.roots, Path(config.state_dir).parent]


def check_home_outside(roots: list[Path] | tuple[Path, ...]) -> None:
    """Refuse an operator home inside a workspace root: a tool could then read keys or forge trust."""
    home = operator_home()
    for root in roots:
        real = Path(os.path.realpath(root))
        if home == real or real in home.parents:
            raise UntrustedPolicy(
                f"the operator home {home} lies inside the workspace root {real}, where tools can read and "
                "write it (trust records, signing keys, tokens); set TOLLHOUSE_HOME to a folder outside "
                "every workspace root"
            )


def require_trusted(config_path: Path | None, text: str, roots: list[Path] | tuple[Path, ...]) -> TrustState:
    """The trust state of a policy about to be enforced; raises UntrustedPolicy unless it is trusted."""
    if config_path is None:
        raise UntrustedPolicy("no policy file: only a trusted tollhouse.toml can be enforced")
    check_home_outside(roots)
    state = trust_state(config_path, text)
    if not state.ok:
        raise UntrustedPolicy(refusal(state))
    return state
