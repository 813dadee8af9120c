"""Which policy file a person trusted, by hash, kept in the operator's home (outside every workspace).

A record per config file path: ``<home>/trust/<sha256 of the path>.json`` holding the path, the
sha256 of the trusted text, when, and the text itself (so a later change can be shown as a diff).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tollhouse.opdirs import ensure_private_dir, operator_home


def policy_digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TrustRecord:
    path: str
    sha256: str
    trusted_at: float
    text: str


def _record_file(config_path: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(config_path))).hexdigest()[:32]
    return operator_home() / "trust" / f"{key}.json"


def record_trust(config_path: Path, text: str) -> TrustRecord:
    """Trust ``text`` as the policy at ``config_path``; written atomically, readable by the operator only."""
    record = TrustRecord(os.path.realpath(config_path), policy_digest(text), time.time(), text)
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
        return TrustRecord(
            str(data["path"]), str(data["sha256"]), float(data["trusted_at"]), str(data["text"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
