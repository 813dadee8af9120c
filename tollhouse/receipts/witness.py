"""Witnesses: copies of each new checkpoint kept where the agent cannot reach.

A file witness is a folder (by default the operator's ``workspace_dir(root)/witness/``, outside the
workspace); it holds ``<key_id>.checkpoint``, the latest signed note of that log. The writer only
replaces it with a checkpoint that extends it (larger or equal size, and the tree at the old size
has the old root), so a truncated or forked store can never walk the witness back: ``receipts verify
--witness`` then finds the store inconsistent with it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tollhouse.receipts.note import Checkpoint, NoteError, origin_for, parse_checkpoint

log = logging.getLogger(__name__)
SUFFIX = ".checkpoint"


def parse_witness_spec(spec: str) -> Path:
    """``file:/path`` or a plain path -> the witness folder. ValueError for other schemes."""
    if spec.startswith("file:"):
        spec = spec[len("file:") :]
        if spec.startswith("//"):
            spec = spec[2:]
    elif "://" in spec:
        raise ValueError(f"witness {spec!r}: only file witnesses (file:/path) are supported in this version")
    if not spec:
        raise ValueError("a witness needs a path (file:/path/to/folder)")
    return Path(spec).expanduser()


def operator_witness(root: Path) -> Path:
    """The witness every workspace has: in the operator's folder for it, outside the workspace."""
    from tollhouse.opdirs import workspace_dir

    return workspace_dir(root) / "witness"


def witness_folders(root: Path, specs: tuple[str, ...] | list[str] = ()) -> list[Path]:
    """The operator's witness and the configured ones (``[receipts] witnesses``)."""
    return [operator_witness(root), *(parse_witness_spec(s) for s in specs)]


def witness_file(folder: Path, key_id: str) -> Path:
    return folder / f"{key_id}{SUFFIX}"


def read_latest(folder: Path, public_raw: bytes, key_id: str) -> Checkpoint | None:
    path = witness_file(folder, key_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse_checkpoint(text, public_raw, origin_for(key_id))


def foreign_checkpoints(folder: Path, key_id: str) -> list[str]:
    """Names of checkpoints in the folder by other keys (a re-keyed log leaves its old key's here)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob(f"*{SUFFIX}") if p.name != f"{key_id}{SUFFIX}")


def publish(folder: Path, note: str, size: int, key_id: str, public_raw: bytes, root_at) -> str | None:
    """Write ``note`` to the witness folder if it extends what is there; returns a problem or None.

    ``root_at(size)`` gives this log's root at an older size, to check the old checkpoint is a
    prefix of the new one (a consistency check made with the full tree at hand)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            old = read_latest(folder, public_raw, key_id)
        except NoteError as exc:
            return f"witness {folder}: its checkpoint is unreadable ({exc}); left as is"
        if old is not None:
            if old.size > size:
                return f"witness {folder} holds size {old.size} > {size}: the store was truncated"
            if root_at(old.size) != old.root:
                return f"witness {folder}: the store's tree at size {old.size} differs from the witnessed one"
        path = witness_file(folder, key_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(note)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        return f"witness {folder}: cannot write ({exc.strerror or exc})"
    return None


def anchors_from(folder: Path, key_id: str) -> list[tuple[str, str]]:
    """``(label, note)`` of what a witness folder holds for ``verify``: this log's checkpoint and,
    when it has none, the checkpoints of other keys (a re-keyed log fails against them)."""
    if not folder.is_dir():
        raise ValueError(f"witness folder {folder} does not exist")
    mine = witness_file(folder, key_id)
    paths = [mine] if mine.exists() else [folder / name for name in foreign_checkpoints(folder, key_id)]
    out = []
    for path in paths:
        try:
            out.append((f"the witness copy {path}", path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read witness checkpoint {path}: {exc}") from exc
    return out
