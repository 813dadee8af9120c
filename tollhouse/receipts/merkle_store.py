"""The Merkle tree kept next to the receipts, and the signed checkpoints (notes) over it.

The tree is derived data: ``merkle_nodes`` holds the complete inner nodes of level >= 4 (keyed
``level << 40 | index``); level 0 is the receipts' own ``hash`` column. It is extended after the fact,
by the writer thread when it signs a checkpoint, never on the append path, so an append costs what
it did. A verifier never trusts these rows: it recomputes the root from the receipts. They exist so
that an inclusion or consistency proof costs O(log n) lookups, not a pass over the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from functools import lru_cache

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.merkle import Frontier, leaf_hash, node_hash, split
from tollhouse.receipts.note import origin_for, sign_checkpoint
from tollhouse.receipts.schema import ZERO_HASH, now_rfc3339
from tollhouse.receipts.signing import Signer

LEVEL_SHIFT = 40
STORED_FROM_LEVEL = 4
"""Nodes below this level are not stored: 15 of every 16 inner nodes, each a row the writer thread
would insert (sharing the GIL with the appenders). A proof recomputes such a node from at most 16
receipt hashes, a few tens of microseconds."""


def node_id(level: int, index: int) -> int:
    return (level << LEVEL_SHIFT) | index


class TreeReader:
    """Subtree hashes of the stored tree, for proofs. Falls back to hashing leaves for a node the
    table lacks (a tree not yet extended that far), so a proof is always right, only slower."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.get_node = lru_cache(maxsize=4096)(self._node)

    def leaf(self, index: int) -> bytes:
        row = self.conn.execute("SELECT hash FROM receipts WHERE seq = ?", (index + 1,)).fetchone()
        if row is None:
            raise ReceiptStoreError(f"receipt {index + 1} is not in the store")
        try:
            return leaf_hash(bytes.fromhex(row[0]))
        except (ValueError, TypeError) as exc:
            raise ReceiptStoreError(f"receipt {index + 1} has a malformed hash") from exc

    def _node(self, level: int, index: int) -> bytes:
        if level == 0:
            return self.leaf(index)
        row = self.conn.execute(
            "SELECT hash FROM merkle_nodes WHERE id = ?", (node_id(level, index),)
        ).fetchone()
        if row is not None:
            return bytes(row[0])
        return node_hash(self._node(level - 1, 2 * index), self._node(level - 1, 2 * index + 1))

    def subtree(self, start: int, size: int) -> bytes:
        if size & (size - 1) == 0:  # perfect subtrees in a left-balanced tree are aligned
            level = size.bit_length() - 1
            return self.get_node(level, start >> level)
        k = split(size)
        return node_hash(self.subtree(start, k), self.subtree(start + k, size - k))

    def root(self, size: int) -> bytes:
        from tollhouse.receipts.merkle import EMPTY_ROOT

        return EMPTY_ROOT if size == 0 else self.subtree(0, size)


def tree_size(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT size FROM merkle_state WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def last_note_size(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(size) FROM notes").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _frontier_at(reader: TreeReader, size: int) -> Frontier:
    f = Frontier()
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            f.stack.append(reader.get_node(level, start >> level))
            start += 1 << level
    f.size = size
    return f


def extend_and_sign(
    conn: sqlite3.Connection, signer: Signer, every: int, at_head: bool
) -> list[tuple[int, bytes, str]]:
    """Inside a write transaction: extend the tree to the chain head and sign the due checkpoints.

    Due: every multiple of ``every`` since the last note, and the head itself when ``at_head``.
    Returns ``(size, root, note)`` of each note written. Refuses (ReceiptStoreError) to sign a chain
    that is shorter than the tree already signed or whose links break: the signer never vouches
    for a truncated or edited history."""
    head_row = conn.execute("SELECT coalesce(max(seq), 0) FROM receipts").fetchone()
    head = int(head_row[0])
    have = tree_size(conn)
    if head < have:
        raise ReceiptStoreError(
            f"the receipt chain ends at {head} but its Merkle tree already covers {have}: "
            "receipts were removed; refusing to sign a checkpoint over a truncated history"
        )
    signed_to = last_note_size(conn)
    due = set(range((signed_to // every + 1) * every, head + 1, every))
    if at_head and head > signed_to:
        due.add(head)
    if not due and head == have:
        return []
    reader = TreeReader(conn)
    frontier = _frontier_at(reader, have)
    roots: dict[int, bytes] = {}
    for size in due:
        if size <= have:
            roots[size] = reader.root(size)
    prev = ZERO_HASH
    if have:
        row = conn.execute("SELECT hash FROM receipts WHERE seq = ?", (have,)).fetchone()
        prev = row[0]
    nodes: list[tuple[int, bytes]] = []
    stack = frontier.stack
    n = have
    for seq, prev_hash, digest in conn.execute(
        "SELECT seq, prev_hash, hash FROM receipts WHERE seq > ? ORDER BY seq", (have,)
    ):
        if seq != n + 1 or prev_hash != prev:
            raise ReceiptStoreError(
                f"receipt {n + 1} does not link to receipt {n}: the chain was edited; refusing to sign"
            )
        try:
            stack.append(leaf_hash(bytes.fromhex(digest)))
        except (ValueError, TypeError) as exc:
            raise ReceiptStoreError(f"receipt {seq} has a malformed hash; refusing to sign") from exc
        level, i = 0, n
        while i & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            level += 1
            i >>= 1
            if level >= STORED_FROM_LEVEL:
                nodes.append((node_id(level, ((n + 1) >> level) - 1), stack[-1]))
        n += 1
        prev = digest
        if n in due:
            frontier.size = n
            roots[n] = frontier.root()
    frontier.size = n
    conn.executemany("INSERT OR IGNORE INTO merkle_nodes (id, hash) VALUES (?, ?)", nodes)
    conn.execute(
        "INSERT INTO merkle_state (id, size) VALUES (1, ?) "
        "ON CONFLICT (id) DO UPDATE SET size = excluded.size",
        (n,),
    )
    written = []
    origin = origin_for(signer.key_id)
    now = now_rfc3339()
    for size in sorted(due):
        root = roots[size]
        note = sign_checkpoint(signer.private, signer.public_raw, origin, size, root)
        conn.execute(
            "INSERT OR IGNORE INTO notes (size, root, time, note) VALUES (?, ?, ?, ?)",
            (size, root.hex(), now, note),
        )
        written.append((size, root, note))
    return written


def notes_in(conn: sqlite3.Connection) -> Iterable[tuple[int, str]]:
    return conn.execute("SELECT size, note FROM notes ORDER BY size")
