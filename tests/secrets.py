"""``assert_no_secret``: the raw bytes of stores, bundles, logs and served text hold no planted secret.

A secret can hide in more forms than its plain UTF-8 bytes: escaped inside JSON text (quotes,
backslashes, non-ASCII as ``\\uXXXX``), base64 (at any of the three byte alignments inside a longer
encoded blob), hex. Each form is searched for in the raw bytes of every file under the given paths
(SQLite databases with their -wal and -shm files included), or in the given bytes/str.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from pathlib import Path

Target = Path | str | bytes


def secret_forms(secret: str) -> dict[str, bytes]:
    raw = secret.encode("utf-8")
    forms = {
        "utf-8": raw,
        "json": json.dumps(secret)[1:-1].encode("ascii"),
        "json-utf8": json.dumps(secret, ensure_ascii=False)[1:-1].encode("utf-8"),
        "hex": binascii.hexlify(raw),
        "HEX": binascii.hexlify(raw).upper(),
    }
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for shift in range(3):  # the secret at each alignment inside a longer base64 text
            enc = encode(b"\0" * shift + raw)
            start = -(-shift * 4 // 3)  # characters that depend on the padding bytes
            stable = enc[start : len(enc) - 4]  # the last group depends on what follows
            if len(stable) >= 8:
                forms[f"{name}+{shift}"] = stable
    return forms


def _blobs(targets: Iterable[Target]) -> Iterable[tuple[str, bytes]]:
    for target in targets:
        if isinstance(target, bytes):
            yield "<bytes>", target
        elif isinstance(target, str):
            yield "<text>", target.encode("utf-8")
        elif target.is_dir():
            for path in sorted(p for p in target.rglob("*") if p.is_file()):
                yield str(path), path.read_bytes()
        elif target.exists():
            yield str(target), target.read_bytes()


def assert_no_secret(targets: Target | Iterable[Target], secret: str) -> None:
    """Fail naming the file and the form when ``secret`` is found anywhere in ``targets``."""
    if isinstance(targets, Path | str | bytes):
        targets = [targets]
    forms = secret_forms(secret)
    seen = 0
    for where, blob in _blobs(targets):
        seen += 1
        for form, needle in forms.items():
            assert needle not in blob, f"secret {secret[:6]}… found in {where} as {form}"
    assert seen, "assert_no_secret was given nothing to search"
