"""Helpers of ``tollhouse receipts verify`` and ``export``: witnesses, the remembered state of
``--incremental``, and the progress bar drawn on a terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes


def _err(message: str, code: int) -> int:
    print(f"tollhouse receipts: {message}", file=sys.stderr)
    return code


def _resume_path(root: Path) -> Path:
    from tollhouse.opdirs import workspace_dir

    return workspace_dir(root) / "receipts-verified.json"


def _load_resume(root: Path, key: bytes | None) -> dict[str, Any] | None:
    """The state of the last verifying run, if it was made with this key; else None (full run)."""
    from tollhouse.receipts.signing import key_id_of

    try:
        state = json.loads(_resume_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or key is None or state.get("key_id") != key_id_of(key):
        return None
    return state


def _save_resume(root: Path, state: dict[str, Any]) -> None:
    import os

    from tollhouse.opdirs import ensure_private_dir

    path = _resume_path(root)
    try:
        ensure_private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        print(f"note: could not remember this run for --incremental: {exc.strerror or exc}", file=sys.stderr)


def _witness_paths(specs: list[str]) -> list[Path] | int:
    from tollhouse.receipts.witness import parse_witness_spec

    out = []
    for spec in specs:
        try:
            out.append(parse_witness_spec(spec))
        except ValueError as exc:
            return _err(f"--witness {spec}: {exc}", exitcodes.USAGE)
    return out


def _witness_anchors(folders: list[Path], key: bytes) -> list[tuple[str, str]] | None:
    from tollhouse.receipts.signing import key_id_of
    from tollhouse.receipts.witness import anchors_from

    out: list[tuple[str, str]] = []
    for folder in folders:
        try:
            out += anchors_from(folder, key_id_of(key))
        except ValueError as exc:
            _err(str(exc), exitcodes.USAGE)
            return None
    return out


def _bundle_key(path: Path) -> bytes | None:
    import base64

    try:
        with open(path, encoding="utf-8") as fh:
            return base64.b64decode(json.loads(fh.readline())["public_key"], validate=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # verify_bundle reports the bad header


class _Bar:
    """A progress line on stderr for long runs, drawn only on a terminal."""

    def __init__(self) -> None:
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        pct = 100 * done // total if total else 100
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {pct:3d}% {done}/{total} entries")
        sys.stderr.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _progress_bar() -> _Bar | None:
    return _Bar() if sys.stderr.isatty() else None
