"""Run as ``python -m tollhouse.store.pg_range`` by ``verify_pg``: check one seq range of a log in a
second process, exactly as ``receipts/hash_range.py`` does for SQLite (same check, same answer).

On stdin, one per line: the URL (not on the command line, where other users could read a password),
the log's schema, ``first last``, and the checkpoint sizes inside the range. It writes one JSON
object, or ``no`` for anything that is not a clean pass: the parent then takes the slow path.
"""

from __future__ import annotations

import json
import sys


def main() -> str:
    import psycopg

    from tollhouse.receipts.hash_range import check_rows
    from tollhouse.store.pg import schema_for
    from tollhouse.store.pg_fast import canonical_select

    url, log_id, bounds, stops_line = (sys.stdin.readline().strip() for _ in range(4))
    first, last = (int(x) for x in bounds.split())
    stops = {int(s) for s in stops_line.split()}
    with psycopg.connect(url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute(f"SET LOCAL search_path TO {schema_for(log_id)}, public")
        with conn.cursor(name="range") as cur:
            cur.itersize = 20_000
            cur.execute(canonical_select(bounded=True), (first - 1, last))
            return json.dumps(check_rows(cur, first, last, stops))


if __name__ == "__main__":
    try:
        out = main()
    except Exception:  # any failure means "not vouched for"; the parent re-checks slowly
        out = "no"
    sys.stdout.write(out)
