"""Receipts: an append-only, hash-chained, signed record of every call through the gate.

Public surface (implementation in the private-ish modules next to this file)::

    store = await ReceiptStore.open(state_dir)         # raises ReceiptStoreError when unusable
    receipt = await store.append(make_entry("intent", call_id, tool="files_read", ...))
    await store.recover_interrupted()                  # close intents of processes that died
    read_receipts(db_path, limit=20) / get_receipt(db_path, 12) / get_call(db_path, call_id)
    verify_db(db_path) / export_bundle(db_path, out) / verify_bundle(out)

Format and threat model: docs/receipts.md.
"""

from tollhouse.receipts.bundle import FORMAT, export_bundle, verify_bundle
from tollhouse.receipts.errors import ReceiptStoreError
from tollhouse.receipts.read import get_call, get_receipt, read_receipts
from tollhouse.receipts.schema import FIELDS, INPUT_FIELDS, ZERO_HASH, entry_hash, json_text, make_entry
from tollhouse.receipts.store import DB_NAME, ReceiptStore
from tollhouse.receipts.verify import VerifyResult, verify_db
from tollhouse.receipts.writer import Receipt

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
