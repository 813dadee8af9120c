"""Receipts: an append-only, hash-chained Merkle log of every call through the gate, with signed
checkpoints (C2SP signed notes) copied to witnesses.

Public surface (implementation in the private-ish modules next to this file)::

    store = await ReceiptStore.open(state_dir, redactor=r)  # raises ReceiptStoreError when unusable
    receipt = await store.append(make_entry("intent", call_id, tool="files_read", ...))
    await store.recover_interrupted()                  # close intents of processes that died
    read_receipts(db_path, limit=20) / get_receipt(db_path, 12) / get_call(db_path, call_id)
    verify_db(db_path, key) / export_bundle(db_path, out) / verify_bundle(out)
    proofs.inclusion_proof(db_path, seq) / proofs.consistency_proof(db_path, old) / proofs.check_proof

Format and threat model: docs/receipts.md.
"""

from typing import TYPE_CHECKING, Any

from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.read import get_call, get_receipt, read_receipts
from tollhouse.receipts.schema import FIELDS, INPUT_FIELDS, ZERO_HASH, entry_hash, json_text, make_entry
from tollhouse.receipts.store import DB_NAME, ReceiptStore
from tollhouse.receipts.writer import Receipt

if TYPE_CHECKING:
    from tollhouse.receipts.bundle import FORMAT, export_bundle, verify_bundle
    from tollhouse.receipts.verify import VerifyResult, verify_db

# Verifying and exporting are for the CLI and tests; a server that only appends never loads them.
_LAZY = {
    "FORMAT": "bundle",
    "export_bundle": "bundle",
    "verify_bundle": "bundle",
    "VerifyResult": "verify",
    "verify_db": "verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "DB_NAME",
    "FIELDS",
    "FORMAT",
    "INPUT_FIELDS",
    "ZERO_HASH",
    "Receipt",
    "ReceiptStore",
    "ReceiptStoreError",
    "VerifyResult",
    "entry_hash",
    "export_bundle",
    "get_call",
    "get_receipt",
    "json_text",
    "make_entry",
    "read_receipts",
    "verify_bundle",
    "verify_db",
]
