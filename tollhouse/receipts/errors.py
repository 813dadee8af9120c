"""Errors of the receipt store."""


class ReceiptStoreError(Exception):
    """The receipt store cannot be used: the message says what is wrong and what to do.

    The gate treats this as fail-closed: no side-effecting call runs unrecorded.
    """
