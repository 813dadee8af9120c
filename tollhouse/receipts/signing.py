"""The Ed25519 key that signs receipt checkpoints.

The private key lives outside the workspace, in the operator's folder for it
(``<TOLLHOUSE_HOME>/workspaces/<name>-<hash>/keys/receipts-ed25519.key``, PKCS#8 PEM, mode 0600), or
comes from ``$TOLLHOUSE_SIGNING_KEY`` / ``$TOLLHOUSE_SIGNING_KEY_FILE``; the public key is written next
to it (``.pub``, SubjectPublicKeyInfo PEM). ``key_id`` is the first 16 hex digits of
the sha256 of the raw 32-byte public key. A checkpoint signature covers the RFC 8785 bytes of
``{"head_hash", "key_id", "seq", "time"}``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tollhouse.opdirs import ensure_private_dir, secrets_dir
from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.schema import canonical_bytes

ENV_KEY = "TOLLHOUSE_SIGNING_KEY"
ENV_KEY_FILE = "TOLLHOUSE_SIGNING_KEY_FILE"
KEY_DIR = "keys"
KEY_NAME = "receipts-ed25519.key"
PUB_NAME = "receipts-ed25519.pub"


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def checkpoint_payload(seq: int, head_hash: str, time: str, key_id: str) -> bytes:
    return canonical_bytes({"head_hash": head_hash, "key_id": key_id, "seq": seq, "time": time})


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public_raw: bytes
    key_id: str
    path: Path

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode("ascii")

    def sign_checkpoint(self, seq: int, head_hash: str, time: str) -> str:
        sig = self.private.sign(checkpoint_payload(seq, head_hash, time, self.key_id))
        return base64.b64encode(sig).decode("ascii")


def verify_checkpoint_signature(public_raw: bytes, checkpoint: dict[str, object]) -> bool:
    try:
        payload = checkpoint_payload(
            int(checkpoint["seq"]),  # type: ignore[call-overload]
            str(checkpoint["head_hash"]),
            str(checkpoint["time"]),
            str(checkpoint["key_id"]),
        )
        signature = base64.b64decode(str(checkpoint["signature"]), validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, payload)
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def parse_public_key(data: bytes | str) -> bytes:
    """Raw 32-byte public key from PEM text or base64 of the raw key. Raises ValueError."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM file does not hold an Ed25519 public key")
        return _raw(key)
    raw = base64.b64decode(text.strip(), validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (base64 of the raw key, or PEM)")
    return raw


def key_dir(state_dir: Path) -> Path:
    """The operator's folder for this workspace's key pair, outside the workspace (tools cannot reach it)."""
    return secrets_dir(state_dir) / KEY_DIR


def public_key_path(state_dir: Path) -> Path:
    """The public key that verifies this store's checkpoints. A store from before the key moved out of
    the workspace, not opened since, still has its public key in ``<state_dir>/keys/``."""
    path = key_dir(state_dir) / PUB_NAME
    legacy = state_dir / KEY_DIR / PUB_NAME
    if not path.exists() and legacy.exists():
        return legacy
    return path


def load_public_key(path: Path) -> bytes:
    try:
        return parse_public_key(path.read_bytes())
    except OSError as exc:
        raise ReceiptStoreError(f"cannot read public key {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ReceiptStoreError(f"{path} is not an Ed25519 public key: {exc}") from exc


def load_or_create_signer(state_dir: Path, *, create: bool = True) -> Signer:
    """The workspace's signing key, created (0600) when missing and ``create`` is true.

    From ``$TOLLHOUSE_SIGNING_KEY`` (PEM text) or ``$TOLLHOUSE_SIGNING_KEY_FILE`` (a path) when the
    operator names one; else ``<operator home>/workspaces/<workspace>/keys/``. A key an older version
    left in ``<state_dir>/keys/`` is moved there first and the workspace copy removed.
    """
    pair_dir = key_dir(state_dir)
    _move_legacy_key(state_dir, pair_dir)
    named = _named_key(state_dir)
    if named is not None:
        pem, path = named
    else:
        path = pair_dir / KEY_NAME
        pem = _read_or_create(path, create)
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ReceiptStoreError(f"signing key {path} is not a valid PEM private key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise ReceiptStoreError(f"signing key {path} is not an Ed25519 key")
    public_raw = _raw(private.public_key())
    pub_path = pair_dir / PUB_NAME
    pub_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        if not pub_path.exists() or pub_path.read_bytes() != pub_pem:
            ensure_private_dir(pair_dir)
            _write_atomic(pub_path, pub_pem, 0o644)
    except OSError as exc:
        raise ReceiptStoreError(f"cannot write public key {pub_path}: {exc.strerror or exc}") from exc
    return Signer(private, public_raw, key_id_of(public_raw), path)


def _check_mode(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ReceiptStoreError(
            f"signing key {path} has mode {mode:04o}: other users could read it and forge checkpoints. "
            f"Restrict it with `chmod 600 {path}` (and rotate the key if others may have copied it)"
        )


def _read_or_create(path: Path, create: bool) -> bytes:
    try:
        if not path.exists():
            if not create:
                raise ReceiptStoreError(
                    f"signing key {path} does not exist; run `tollhouse init` to create the state folder"
                )
            ensure_private_dir(path.parent)
            _create_key(path)
        _check_mode(path)
        return path.read_bytes()
    except OSError as exc:
        raise ReceiptStoreError(
            f"cannot read or create the signing key {path}: {exc.strerror or exc}; "
            "check that the operator home (TOLLHOUSE_HOME) is writable by this user"
        ) from exc


def _named_key(state_dir: Path) -> tuple[bytes, Path] | None:
    """The key the operator named in the environment (PEM text, or a file outside the workspace)."""
    text = os.environ.get(ENV_KEY)
    file = os.environ.get(ENV_KEY_FILE)
    if text and file:
        raise ReceiptStoreError(f"set ${ENV_KEY} or ${ENV_KEY_FILE}, not both")
    if text:
        return text.encode("utf-8"), Path(f"${ENV_KEY}")
    if not file:
        return None
    path = Path(file).expanduser()
    real = Path(os.path.realpath(path))
    workspace = Path(os.path.realpath(state_dir.parent))
    if real == workspace or workspace in real.parents:
        raise ReceiptStoreError(
            f"${ENV_KEY_FILE} names {path}, inside the workspace {workspace} where tools can read it; "
            "keep the key outside the workspace"
        )
    try:
        _check_mode(path)
        return path.read_bytes(), path
    except OSError as exc:
        raise ReceiptStoreError(f"cannot read ${ENV_KEY_FILE} {path}: {exc.strerror or exc}") from exc


def _move_legacy_key(state_dir: Path, pair_dir: Path) -> None:
    """Move a key pair an older version kept in ``<state_dir>/keys/`` out of the workspace, so old
    stores keep verifying and no tool can read the private key any more."""
    legacy_dir = state_dir / KEY_DIR
    legacy = legacy_dir / KEY_NAME
    if not legacy.is_file() or legacy.is_symlink():
        return
    target = pair_dir / KEY_NAME
    try:
        data = legacy.read_bytes()
        if not target.exists():
            ensure_private_dir(pair_dir)
            _link_new(target, data)
        if target.read_bytes() != data:
            raise ReceiptStoreError(
                f"two different signing keys: {legacy} (in the workspace, from an older version) and "
                f"{target}; move the one that did not sign this store's checkpoints aside"
            )
        legacy.unlink()
        (legacy_dir / PUB_NAME).unlink(missing_ok=True)
        try:
            legacy_dir.rmdir()
        except OSError:
            pass  # something else is in there: leave it
    except OSError as exc:
        raise ReceiptStoreError(
            f"cannot move the signing key {legacy} out of the workspace to {target}: {exc.strerror or exc}"
        ) from exc


def _create_key(path: Path) -> None:
    """Create the key without a window where it is readable or half-written; racing creators agree."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _link_new(path, pem)


def _link_new(path: Path, pem: bytes) -> None:
    """Write ``pem`` to ``path`` (0600) unless it exists: another process's key, if first, wins."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process created the key first: theirs wins
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
