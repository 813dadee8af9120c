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


def node(left, right):  # RFC 9162 Merkle tree: 0x00 before a leaf, 0x01 before two children
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(stack):  # the roots of the perfect subtrees, left to right, folded from the right
    root = stack[-1] if stack else hashlib.sha256(b"").digest()
    for left in reversed(stack[:-1]):
        root = node(left, root)
    return root


def note_root(text, raw, origin):  # a C2SP signed note: body, blank line, "— name base64(keyhash+sig)"
    body, _, sigs = text.rpartition("\n\n")
    body += "\n"
    name, size, root = body.split("\n")[:3]
    key_hash = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
    for line in sigs.splitlines():
        blob = base64.b64decode(line.split(" ")[-1])
        if line == f"\u2014 {origin} {line.split(' ')[-1]}" and blob[:4] == key_hash:
            Ed25519PublicKey.from_public_bytes(raw).verify(blob[4:], body.encode())  # raises if bad
            if name == origin:
                return int(size), base64.b64decode(root)
    raise ValueError("not signed by this log's key")


def verify(path, pinned=None):
    with open(path, encoding="utf-8") as fh:
        head = json.loads(fh.readline())
        if head.get("format") != "tollhouse-receipts/2":
            return "not a tollhouse-receipts/2 bundle"
        raw = base64.b64decode(head["public_key"])
        if pinned and raw != base64.b64decode(pinned):
            return "signed by another key than the expected one"
        n, origin = head["count"], "tollhouse/receipts/" + hashlib.sha256(raw).hexdigest()[:16]
        entries = [fh.readline() for _ in range(n)]  # kept as text; a stream for huge bundles
        rest = fh.read().splitlines()
    if len(rest) != head["checkpoints"] + head["notes"] or "" in entries:
        return "lines were removed or added"
    signed = {}
    for line in rest[head["checkpoints"] :]:
        try:
            size, root = note_root(json.loads(line)["note"], raw, origin)
        except Exception:
            return "a checkpoint note: bad signature"
        signed[size] = root
    if n and n not in signed:
        return f"no signed checkpoint covers the head (entry {n}): the history may have been rewritten"
    prev, stack = "0" * 64, []
    for seq, line in enumerate(entries, start=1):
        entry = json.loads(line)
        stated = entry.pop("hash")
        if (
            entry["seq"] != seq
            or entry["prev_hash"] != prev
            or hashlib.sha256(jcs(entry)).hexdigest() != stated
        ):
            return f"entry {seq} is missing, moved, altered or not linked to entry {seq - 1}"
        prev = stated
        stack.append(hashlib.sha256(b"\x00" + bytes.fromhex(stated)).digest())
        size = seq
        while size % 2 == 0:  # a perfect subtree was completed: merge it with its left neighbour
            right = stack.pop()
            stack[-1] = node(stack[-1], right)
            size //= 2
        if seq in signed and merkle_root(stack) != signed[seq]:
            return f"checkpoint at size {seq}: the entries there are not the ones that were signed"
    if any(size > n for size in signed):
        return f"a signed checkpoint covers more than the {n} entries in the bundle: entries were removed"
    return None


if __name__ == "__main__":
    problem = verify(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(f"FAILED: {problem}" if problem else "ok: every entry, link, Merkle root and signature holds")
    sys.exit(1 if problem else 0)
