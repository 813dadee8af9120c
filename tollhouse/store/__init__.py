"""Where receipts live: the workspace's SQLite file (default) or a shared PostgreSQL store.

One function decides, so every face (stdio server, HTTP replicas, CLI) opens the same store::

    url = store_url(config)                                   # None: SQLite in .tollhouse/
    store = await open_receipts(config, redactor=redactor)   # ReceiptStore on either backend

``[store] url = "postgresql://..."`` in tollhouse.toml or ``TOLLHOUSE_STORE_URL`` in the
environment (which wins: it is the operator's deployment choice, the file is the project's) puts
receipts on PostgreSQL; each server writes its own log there, named by its signing key
(``pg.py``). Keep passwords out of tollhouse.toml: libpq reads ``~/.pgpass`` and ``PGPASSWORD``.
See docs/store.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tollhouse.config import Config
    from tollhouse.receipts.store import ReceiptStore

ENV = "TOLLHOUSE_STORE_URL"
SCHEMES = ("postgresql://", "postgres://")


def check_url(url: Any, where: str) -> str | None:
    """The URL if it names a PostgreSQL store, None for empty; ValueError saying what is wrong."""
    if url is None or url == "":
        return None
    if not isinstance(url, str):
        raise ValueError(f"{where} must be a string like postgresql://user@host/db")
    if not url.startswith(SCHEMES):
        raise ValueError(
            f"{where} must start with postgresql:// (got {url.split(':', 1)[0]!r}); "
            "leave it out to keep receipts in the workspace's SQLite file"
        )
    return url


def check_store_table(table: Any, path: Path | None) -> None:
    """Config hook: validate ``[store]`` when tollhouse.toml is loaded (ConfigError)."""
    from tollhouse.config import ConfigError

    if not isinstance(table, dict):
        raise ConfigError("[store] must be a table", file=path)
    try:
        check_url(table.get("url"), "store.url")
    except ValueError as exc:
        raise ConfigError(str(exc), file=path) from exc


def store_url(config: Config | None) -> str | None:
    """The PostgreSQL URL receipts go to, or None for the workspace's SQLite file."""
    env = os.environ.get(ENV)
    if env:
        return check_url(env, ENV)
    if config is None:
        return None
    table = config.data.get("store", {})
    return check_url(table.get("url") if isinstance(table, dict) else None, "store.url")


async def open_receipts(config: Config, *, redactor: Any, create: bool = True) -> ReceiptStore:
    """The receipt store this config names, with its settings; raises ReceiptStoreError."""
    from tollhouse.receipts.errors import ReceiptStoreError
    from tollhouse.receipts.store import ReceiptStore
    from tollhouse.receipts.witness import witness_folders

    try:
        url = store_url(config)
    except ValueError as exc:  # a bad TOLLHOUSE_STORE_URL: refuse, never fall back to SQLite
        raise ReceiptStoreError(f"{exc}; nothing was recorded") from exc
    return await ReceiptStore.open(
        config.state_dir,
        checkpoint_every=config.receipts.checkpoint_every,
        synchronous=config.receipts.synchronous,
        checkpoint_interval_s=config.receipts.checkpoint_interval_s,
        witnesses=witness_folders(config.root, config.receipts.witnesses),
        redactor=redactor,
        create=create,
        url=url,
    )


def open_grants(config: Config) -> Any:
    """A sync connection to where grants live: the PostgreSQL store's shared state, or the
    workspace's state database (migrated, redacting, as ``state.db.open_sync``)."""
    from tollhouse.state.db import StateError, open_sync

    try:
        url = store_url(config)
    except ValueError as exc:
        raise StateError(str(exc)) from exc
    if url is None:
        return open_sync(config.state_dir / "state.db")
    from tollhouse.store.state_pg import SyncState

    return SyncState(url)
