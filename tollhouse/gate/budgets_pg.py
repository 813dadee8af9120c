"""Budget usage on PostgreSQL: with a store URL, every server counts against one set of tables.

``budgets.py`` speaks SQLite's dialect through a sync connection; this adapter gives it the same
``execute`` over psycopg. SQLite's ``BEGIN IMMEDIATE`` (the database write lock, which makes
check-then-count atomic across processes) becomes ``BEGIN`` plus a transaction-scoped advisory lock
per (budget, scope) being checked, taken in sorted order (no deadlock between two calls covered by
the same budgets). Under READ COMMITTED each statement after the lock sees every count committed
before it, so two servers sharing a principal's ``max_calls`` can never both take the last call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tollhouse.store.pg import CONNECT_TIMEOUT_S, redacted_url

_SCHEMA_LOCK = 0x7011_4005B
_SCOPE_LOCKS = 0x7017  # the two-int advisory lock namespace of budget scopes (class id, hash)

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_usage (
    id BIGSERIAL PRIMARY KEY, budget TEXT NOT NULL, scope TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0, unpriced TEXT
);
CREATE INDEX IF NOT EXISTS budget_usage_scope ON budget_usage(budget, scope, at);
CREATE TABLE IF NOT EXISTS budget_scopes (
    budget TEXT NOT NULL, scope TEXT NOT NULL, started DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (budget, scope)
);
"""


class BudgetStoreError(Exception):
    """The PostgreSQL store cannot count budgets; the gate then refuses the call (fail closed)."""


def _sql(sql: str) -> str:
    sql = sql.replace("?", "%s")
    if sql.lstrip().startswith("INSERT OR IGNORE"):
        sql = sql.replace("INSERT OR IGNORE", "INSERT", 1) + " ON CONFLICT DO NOTHING"
    return sql


class PgBudgetConn:
    """The sqlite3-connection slice ``budgets.py`` uses, on the shared store."""

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            with self._conn.transaction():  # several servers starting together create the tables once
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                self._conn.execute(SCHEMA)
        except psycopg.Error as exc:
            raise BudgetStoreError(
                f"cannot count budgets in the PostgreSQL store {redacted_url(url)}: {str(exc).strip()}"
            ) from exc

    @property
    def broken(self) -> bool:
        return bool(self._conn.closed or self._conn.broken)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql == "BEGIN IMMEDIATE":
            sql = "BEGIN"
        return self._conn.execute(_sql(sql), tuple(params) or None)

    def lock(self, keys: Iterable[str]) -> None:
        """Inside a transaction: hold every (budget, scope) key until it ends, in a fixed order."""
        for key in sorted(set(keys)):
            self._conn.execute("SELECT pg_advisory_xact_lock(%s::int, hashtext(%s))", (_SCOPE_LOCKS, key))

    def close(self) -> None:
        self._conn.close()
