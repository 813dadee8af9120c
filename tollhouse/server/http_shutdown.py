"""Graceful shutdown of `serve --http` on SIGTERM or SIGINT.

uvicorn stops accepting, asks open connections to close, waits up to ``[http] shutdown_grace_s``
for in-flight requests, then cancels what is left; a call cancelled there is receipted ``cancelled``
by the gate. Then the session manager's lifespan ends (handshake-era sessions and their calls are
cancelled the same way), the cases get their handoffs, and closing the gate writes the pending
receipts and signs a final checkpoint.

uvicorn's own signal handling re-raises the signal once its server returns, which kills the
process with the default action *before* that cleanup; ``GracefulServer`` keeps the signal to itself
so the cleanup runs and the process exits 0.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

HANDLED = (signal.SIGINT, signal.SIGTERM)


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_signal: Callable[[int], None] | None = None) -> None:
        super().__init__(config)
        self.on_signal = on_signal
        self.signalled: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._exit) for sig in HANDLED}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _exit(self, sig: int, frame: Any) -> None:
        if self.signalled is None:
            self.signalled = sig
            if self.on_signal is not None:
                self.on_signal(sig)
        self.handle_exit(sig, frame)
