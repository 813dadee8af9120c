"""The RFC 9162 (Certificate Transparency v2) Merkle tree over receipts, and its proofs.

A leaf is one receipt: its leaf hash is ``SHA-256(0x00 || d)`` where ``d`` is the 32-byte digest the
entry's ``hash`` field holds (the sha256 of its canonical bytes), and an inner node is
``SHA-256(0x01 || left || right)``. The tree of n leaves splits at the largest power of two below n
(RFC 9162 section 2.1.1). Pure functions only; the store keeps nodes in ``merkle_store.py``.

Tested against the RFC 6962 vectors of the Certificate Transparency reference implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha = hashlib.sha256

NodeFn = Callable[[int, int], bytes]
"""``subtree(start, size)``: the hash of leaves [start, start+size)."""


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of already-hashed leaves (the naive recursive definition, for small trees and tests)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = split(n)
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


class Frontier:
    """A compact range: the roots of the perfect subtrees that make up the first ``size`` leaves.

    Appending is amortised one node hash per leaf and memory is O(log n): this is how ``verify``
    folds 500,000 receipts into a root without holding them."""

    __slots__ = ("size", "stack")

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        stack = self.stack
        stack.append(leaf)
        n = self.size
        while n & 1:  # each trailing 1 bit of the old size is a perfect subtree the new leaf completes
            right = stack.pop()
            stack[-1] = _sha(b"\x01" + stack[-1] + right).digest()
            n >>= 1
        self.size += 1

    def extend(self, leaves: list[bytes]) -> None:
        """``append`` each leaf, in bulk: the leaves are cut into the perfect subtrees the tree
        aligns them to, each hashed level by level (same nodes, a fraction of the calls)."""
        i, n = 0, len(leaves)
        while i < n:
            size = self.size
            k = (size & -size).bit_length() - 1 if size else n.bit_length()  # size's lowest set bit
            while (1 << k) > n - i:
                k -= 1
            level = leaves[i : i + (1 << k)]
            while len(level) > 1:
                it = iter(level)
                level = [_sha(b"\x01" + left + right).digest() for left, right in zip(it, it, strict=True)]
            self.push(level[0], k)
            i += 1 << k

    def push(self, node: bytes, k: int) -> None:
        """Add the root of a perfect subtree of 2**k leaves; ValueError unless ``size`` is a
        multiple of 2**k (the subtree would not be aligned)."""
        if k < 0 or self.size & ((1 << k) - 1) or len(node) != 32:
            raise ValueError(f"a subtree of 2**{k} leaves cannot follow {self.size} leaves")
        stack = self.stack
        stack.append(node)
        n = self.size >> k
        while n & 1:
            right = stack.pop()
            stack[-1] = _sha(b"\x01" + stack[-1] + right).digest()
            n >>= 1
        self.size += 1 << k

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        h = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            h = _sha(b"\x01" + left + h).digest()
        return h


# -- inclusion (RFC 9162 2.1.3) ---------------------------------------------------------------------
def inclusion_path(index: int, size: int, subtree: NodeFn) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, n, m = 0, size, index
    while n > 1:
        k = split(n)
        if m < k:
            path.append(subtree(start + k, n - k))
            n = k
        else:
            path.append(subtree(start, k))
            start, n, m = start + k, n - k, m - k
    path.reverse()
    return path


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The root the path leads to (RFC 9162 2.1.3.2); ValueError when the path has the wrong shape."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("the inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the inclusion path is shorter than the tree is deep")
    return r


# -- consistency (RFC 9162 2.1.4) -------------------------------------------------------------------
def consistency_path(old: int, new: int, subtree: NodeFn) -> list[bytes]:
    """The proof that the tree of ``old`` leaves is a prefix of the tree of ``new`` leaves."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from {old} to {new} leaves (need 0 < old <= new)")
    if old == new:
        return []
    out: list[bytes] = []
    _subproof(old, 0, new, True, subtree, out)
    return out


def _subproof(m: int, start: int, n: int, complete: bool, subtree: NodeFn, out: list[bytes]) -> None:
    if m == n:
        if not complete:
            out.append(subtree(start, n))
        return
    k = split(n)
    if m <= k:
        _subproof(m, start, k, complete, subtree, out)
        out.append(subtree(start + k, n - k))
    else:
        _subproof(m - k, start + k, n - k, False, subtree, out)
        out.append(subtree(start, k))


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does ``path`` prove the ``old`` tree is a prefix of the ``new`` one?"""
    if not 0 < old <= new:
        return False
    if old == new:
        return not path and old_root == new_root
    path = list(path)
    if old & (old - 1) == 0:  # old is a power of two: its root is the first node on the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def subtree_from_leaves(leaves: Sequence[bytes]) -> NodeFn:
    """A ``NodeFn`` over leaf hashes held in memory (tests, bundles)."""
    return lambda start, size: root_of(leaves[start : start + size])
