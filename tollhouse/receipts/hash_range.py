"""Run as a script by ``parallel.py``: check one seq range of a receipt database in a second process.

Standard library only (it starts in a few tens of milliseconds, with ``-I -S``). Arguments: the
database URI (read-only), the fast-path SELECT (``sqljson.canonical_select``, bounded), the first
and last seq. For rows first..last it checks what ``Verifier.feed_canonical`` checks inside the
range: the SQLite-written canonical text hashes to the stored hash, seqs run first..last without a
gap, each entry links to the one before. It writes ``ok`` and then, for the parent to join the
chain and the Merkle tree: the first entry's ``prev_hash``, then each entry's 32-byte digest and
32-byte Merkle leaf hash. Anything else (a mismatch, a gap, an error) writes ``no``: the parent
then runs the slow path, which says what is wrong.
"""

import hashlib
import sqlite3
import sys


def main(uri: str, select: str, first: int, last: int) -> bytes:
    sha = hashlib.sha256
    fromhex = bytes.fromhex
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("BEGIN")
        out = []
        expect = first
        prev = None
        start = b""
        for text, seq, linked, stored in conn.execute(select, (first - 1, last)):
            if text is None or seq != expect or sha(text.encode("utf-8")).hexdigest() != stored:
                return b"no"
            if prev is None:
                start = linked.encode("ascii") if isinstance(linked, str) and len(linked) == 64 else b""
                if not start:
                    return b"no"
            elif linked != prev:
                return b"no"
            prev = stored
            digest = fromhex(stored)
            out.append(digest + sha(b"\x00" + digest).digest())
            expect += 1
        if expect != last + 1:
            return b"no"
        return b"ok" + start + b"".join(out)
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        result = main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    except Exception:
        result = b"no"
    sys.stdout.buffer.write(result)
