"""tollhouse: one gate for every agent tool call, and a receipt for each."""

__version__ = "0.1.0"
