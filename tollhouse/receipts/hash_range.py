"""Run as a script by ``parallel.py``: check one seq range of a receipt database in a second process.

Standard library only (it starts in a few tens of milliseconds, with ``-I -S``). Arguments: the
database URI (read-only), the fast-path SELECT (``sqljson.canonical_select``, bounded), the first
and last seq; on stdin, the checkpoint sizes inside the range. For rows first..last it checks what
``Verifier.feed_canonical`` checks inside the range: the SQLite-written canonical text hashes to the
stored hash, seqs run first..last without a gap, each entry links to the one before. It folds the
Merkle leaves of the range into a compact range (the aligned perfect subtrees covering it, O(log n)
memory) and writes one JSON object: the first entry's ``prev_hash``, the compact range and head hash
at each checkpoint size and at the end, and the last two hashes. Anything else (a mismatch, a gap,
an error) writes ``no``: the parent then runs the slow path, which says what is wrong.
"""

import hashlib
import json
import sqlite3
import sys


def main(uri: str, select: str, first: int, last: int, stops: set[int]) -> dict:
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("BEGIN")
        return check_rows(conn.execute(select, (first - 1, last)), first, last, stops)
    finally:
        conn.close()


def check_rows(rows, first: int, last: int, stops: set[int]) -> dict:
    """The check itself, over ``(text, seq, prev_hash, hash)`` rows from any database."""
    sha = hashlib.sha256
    fromhex = bytes.fromhex
    nodes: list[tuple[int, int, bytes]] = []  # (start, level, hash): the compact range of [first-1, seq)
    at: list[list] = []
    expect = first
    prev = prev2 = None
    start_prev = None
    for text, seq, linked, stored in rows:
        if text is None or seq != expect or sha(text.encode("utf-8")).hexdigest() != stored:
            raise ValueError(seq)
        if prev is None:
            start_prev = linked
        elif linked != prev:
            raise ValueError(seq)
        prev2, prev = prev, stored
        # Add the leaf at index seq-1, merging while it completes an aligned pair.
        pos, level, node = seq - 1, 0, sha(b"\x00" + fromhex(stored)).digest()
        while nodes:
            left_pos, left_level, left = nodes[-1]
            if left_level != level or left_pos & ((2 << level) - 1):
                break
            nodes.pop()
            pos, level, node = left_pos, level + 1, sha(b"\x01" + left + node).digest()
        nodes.append((pos, level, node))
        if seq in stops:
            at.append([seq, stored, [[k, h.hex()] for _, k, h in nodes]])
        expect += 1
    if expect != last + 1 or not isinstance(start_prev, str):
        raise ValueError(expect)
    return {
        "first_prev": start_prev,
        "at": at,
        "end": [[k, h.hex()] for _, k, h in nodes],
        "prev2": prev2,
        "last": prev,
    }


if __name__ == "__main__":
    try:
        wanted = {int(s) for s in sys.stdin.read().split()}
        out = json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), wanted))
    except Exception:  # any failure means "not vouched for"; the parent re-checks slowly
        out = "no"
    sys.stdout.write(out)
