"""Checkpoints as C2SP signed notes (``c2sp.org/tlog-checkpoint`` in ``c2sp.org/signed-note``).

A checkpoint's text is three lines, each ending in a newline: the log's origin, the tree size in
decimal, and the base64 Merkle root. A signed note is that text, a blank line, then one line per
signature: ``— <name> <base64(key hash (4 bytes) || Ed25519 signature (64 bytes))>``, where the key
hash is the first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``. The signature covers
the text, final newline included. Existing transparency tooling (Go's ``sumdb/note``, witnesses)
reads these as they are.

The origin (and key name) of a tollhouse log is ``tollhouse/receipts/<key_id>``: a log is named by
the key that signs it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DASH = "\u2014 "
MAX_NOTE_BYTES = 64 * 1024


def origin_for(key_id: str) -> str:
    return f"tollhouse/receipts/{key_id}"


def key_hash(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_raw).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str
    """The signed note as written (body, blank line, signature lines)."""


class NoteError(ValueError):
    """A checkpoint note that is malformed or not signed by the expected key."""


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def sign_checkpoint(
    private: Ed25519PrivateKey, public_raw: bytes, origin: str, size: int, root: bytes
) -> str:
    body = checkpoint_body(origin, size, root)
    sig = private.sign(body.encode("utf-8"))
    blob = base64.b64encode(key_hash(origin, public_raw) + sig).decode("ascii")
    return f"{body}\n{DASH}{origin} {blob}\n"


def parse_checkpoint(text: str, public_raw: bytes, origin: str | None = None) -> Checkpoint:
    """Parse a signed checkpoint and check its signature by ``public_raw``. Raises NoteError.

    The note must carry a valid signature line whose name is the checkpoint's origin and whose key
    hash names ``public_raw``; lines of other signers (witness cosignatures) are ignored, as the
    spec asks. ``origin`` pins the log's name when the caller knows it."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise NoteError("the checkpoint note is larger than 64 KiB")
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise NoteError("not a signed note (no blank line before the signatures, or no final newline)")
    body, sigs = text[: cut + 1], text[cut + 2 :]
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin line, a tree size line and a root hash line")
    name, size_text, root_text = lines[0], lines[1], lines[2]
    if origin is not None and name != origin:
        raise NoteError(f"the checkpoint is of log {name!r}, not {origin!r}")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")) or len(size_text) > 19:
        raise NoteError(f"the tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("the root hash line is not base64") from exc
    if len(root) != 32:
        raise NoteError("the root hash is not 32 bytes")
    want = key_hash(name, public_raw)
    verifier = Ed25519PublicKey.from_public_bytes(public_raw)
    signed = False
    for line in sigs.split("\n")[:-1]:
        if not line.startswith(DASH):
            raise NoteError(f"malformed signature line {line[:40]!r}")
        parts = line[len(DASH) :].split(" ")
        if len(parts) != 2:
            raise NoteError(f"malformed signature line {line[:40]!r}")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("a signature line is not base64") from exc
        if parts[0] != name or blob[:4] != want:
            continue  # another signer (a witness cosignature): not ours to judge
        try:
            verifier.verify(blob[4:], body.encode("utf-8"))
        except InvalidSignature as exc:
            raise NoteError("the checkpoint signature does not verify (forged or edited)") from exc
        signed = True
    if not signed:
        raise NoteError("the checkpoint carries no signature by the expected key")
    return Checkpoint(name, int(size_text), root, text)
