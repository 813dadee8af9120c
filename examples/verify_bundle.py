"""Verify a tollhouse receipts bundle WITHOUT tollhouse: needs only Python and `cryptography`.

usage: python verify_bundle.py BUNDLE.jsonl [EXPECTED_PUBLIC_KEY_BASE64]      exit 0 = ok, 1 = failed
"""

import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def jcs(obj):  # RFC 8785 bytes for a flat object of str/int/null values with ASCII keys
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify(path, pinned=None):
    lines = open(path, encoding="utf-8").read().splitlines()
    head = json.loads(lines[0])
    if head.get("format") != "tollhouse-receipts/1":
        return "not a tollhouse-receipts/1 bundle"
    raw = base64.b64decode(head["public_key"])
    if pinned and raw != base64.b64decode(pinned):
        return "signed by another key than the expected one"
    n = head["count"]
    if len(lines) != 1 + n + head["checkpoints"]:
        return "lines were removed or added"
    chain, prev = {}, "0" * 64
    for seq, line in enumerate(lines[1 : 1 + n], start=1):
        entry = json.loads(line)
        stated = entry.pop("hash")
        if (
            entry["seq"] != seq
            or entry["prev_hash"] != prev
            or hashlib.sha256(jcs(entry)).hexdigest() != stated
        ):
            return f"entry {seq} is missing, moved, altered or not linked to entry {seq - 1}"
        chain[seq] = prev = stated
    key_id = hashlib.sha256(raw).hexdigest()[:16]
    for line in lines[1 + n :]:
        cp = json.loads(line)
        signed = jcs({k: cp[k] for k in ("seq", "head_hash", "time", "key_id")})
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(cp["signature"]), signed)
        except Exception:
            return f"checkpoint at seq {cp['seq']}: bad signature"
        if cp["key_id"] != key_id or chain.get(cp["seq"]) != cp["head_hash"]:
            return f"checkpoint at seq {cp['seq']}: the chain there is not the one that was signed"
    return None


if __name__ == "__main__":
    problem = verify(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(f"FAILED: {problem}" if problem else "ok: every entry, link and checkpoint signature holds")
    sys.exit(1 if problem else 0)
