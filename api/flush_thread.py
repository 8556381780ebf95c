"""One daemon thread that writes out what a hot path queued.

The request log and the request sampler both keep an answered request's cost
to an append to a queue and leave the writing to a thread of their own; this
is that thread, so starting it once, waking it early and stopping it are
written (and got right) in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class FlushThread:
    """Calls ``flush`` every ``interval`` seconds, or sooner when woken, until stopped.

    ``flush`` must not raise: an error would end the thread and leave the queue
    growing, so each owner decides what a failed write costs (a dropped batch).
    """

    def __init__(self, name: str, interval: float, flush: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self._flush = flush
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> bool:
        """Start the thread unless it runs or was closed; True when this call started it."""
        with self._starting:
            if self._thread is not None or self._stopping.is_set():
                return False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
            return True

    def wake(self) -> None:
        """Flush now rather than at the end of the interval (a full batch)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread for good, waiting up to 5 s for a write under way; the
        owner then flushes what is left itself (and sees that write's error)."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stopping.is_set():
                self._flush()
