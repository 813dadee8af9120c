"""Witnesses: copies of each new checkpoint kept where the agent cannot reach.

A file witness is a folder (by default the operator's ``workspace_dir(root)/witness/``, outside the
workspace); it holds ``<key_id>.checkpoint``, the latest signed note of that log. The writer only
replaces it with a checkpoint that extends it (larger or equal size, and the tree at the old size
has the old root), so a truncated or forked store can never walk the witness back: ``receipts verify
--witness`` then finds the store inconsistent with it.

An HTTP witness (``https://host/path``, or ``http://`` on a loopback address) is the same layout over
HTTP: ``GET <url>/<key_id>.checkpoint`` returns the latest note (404: none yet) and ``PUT`` stores a
new one. The writer reads the old one first and refuses to send a checkpoint that does not extend it.
This is tollhouse's own minimal protocol, not C2SP's witness protocol (which answers with a
cosignature); any static file server that accepts PUT, or object storage, can serve as one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tollhouse.receipts.note import Checkpoint, NoteError, origin_for, parse_checkpoint

log = logging.getLogger(__name__)
SUFFIX = ".checkpoint"


@dataclass(frozen=True)
class HttpWitness:
    url: str

    def file_url(self, key_id: str) -> str:
        return f"{self.url.rstrip('/')}/{key_id}{SUFFIX}"

    def __str__(self) -> str:
        return self.url


Witness = Path | HttpWitness
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
HTTP_TIMEOUT_S = 5.0


def parse_witness_spec(spec: str) -> Witness:
    """``file:/path`` (or a plain path) -> the witness folder; ``https://...`` (``http://`` on a
    loopback address) -> an HTTP witness. ValueError for anything else."""
    if spec.startswith(("https://", "http://")):
        from urllib.parse import urlsplit

        parts = urlsplit(spec)
        if not parts.hostname:
            raise ValueError(f"witness {spec!r} names no host")
        if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] not in _LOOPBACK:
            raise ValueError(f"witness {spec!r}: plain http is for loopback addresses only; use https")
        return HttpWitness(spec)
    if spec.startswith("file:"):
        spec = spec[len("file:") :]
        if spec.startswith("//"):
            spec = spec[2:]
    elif "://" in spec:
        raise ValueError(f"witness {spec!r}: a witness is file:/path or https://host/path")
    if not spec:
        raise ValueError("a witness needs a path (file:/path/to/folder)")
    return Path(spec).expanduser()


def operator_witness(root: Path) -> Path:
    """The witness every workspace has: in the operator's folder for it, outside the workspace."""
    from tollhouse.opdirs import workspace_dir

    return workspace_dir(root) / "witness"


def witness_folders(root: Path, specs: tuple[str, ...] | list[str] = ()) -> list[Witness]:
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


def _check_extends(where: str, old: Checkpoint | None, size: int, root_at) -> str | None:
    if old is None:
        return None
    if old.size > size:
        return f"witness {where} holds size {old.size} > {size}: the store was truncated"
    if root_at(old.size) != old.root:
        return f"witness {where}: the store's tree at size {old.size} differs from the witnessed one"
    return None


def publish(folder: Witness, note: str, size: int, key_id: str, public_raw: bytes, root_at) -> str | None:
    """Write ``note`` to the witness folder if it extends what is there; returns a problem or None.

    ``root_at(size)`` gives this log's root at an older size, to check the old checkpoint is a
    prefix of the new one (a consistency check made with the full tree at hand)."""
    if isinstance(folder, HttpWitness):
        return _publish_http(folder, note, size, key_id, public_raw, root_at)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            old = read_latest(folder, public_raw, key_id)
        except NoteError as exc:
            return f"witness {folder}: its checkpoint is unreadable ({exc}); left as is"
        problem = _check_extends(str(folder), old, size, root_at)
        if problem:
            return problem
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


def _publish_http(
    w: HttpWitness, note: str, size: int, key_id: str, public_raw: bytes, root_at
) -> str | None:
    import httpx

    url = w.file_url(key_id)
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT_S) as client:
            got = client.get(url)
            if got.status_code == 200:
                try:
                    old = parse_checkpoint(got.text, public_raw, origin_for(key_id))
                except NoteError as exc:
                    return f"witness {url}: its checkpoint is unreadable ({exc}); not replaced"
                problem = _check_extends(url, old, size, root_at)
                if problem:
                    return problem
            elif got.status_code != 404:
                return f"witness {url}: GET answered {got.status_code}"
            put = client.put(
                url, content=note.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"}
            )
            if put.status_code >= 300:
                return f"witness {url}: PUT answered {put.status_code}"
    except httpx.HTTPError as exc:
        return f"witness {url}: {exc}"
    return None


def anchors_from(folder: Witness, key_id: str) -> list[tuple[str, str]]:
    """``(label, note)`` of what a witness holds for ``verify``: this log's checkpoint and, for a
    folder without one, the checkpoints of other keys (a re-keyed log fails against them)."""
    if isinstance(folder, HttpWitness):
        return _anchors_http(folder, key_id)
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


def _anchors_http(w: HttpWitness, key_id: str) -> list[tuple[str, str]]:
    import httpx

    url = w.file_url(key_id)
    try:
        got = httpx.get(url, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot reach witness {url}: {exc}") from exc
    if got.status_code == 404:
        return []
    if got.status_code != 200:
        raise ValueError(f"witness {url} answered {got.status_code}")
    return [(f"the witness copy {url}", got.text)]
