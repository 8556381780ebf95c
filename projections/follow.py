"""Following the notification log: keeps a ``ServingState`` current.

Each serving process polls ``select_notifications`` from the position its
state has folded, every ``interval`` seconds (0.2 by default), in a thread of
its own so a slow store never stalls requests; a change committed through the
application is then served within about one interval plus the fold. The
store's writers serialise inserts into the log (a table lock on PostgreSQL),
so positions become visible in order and polling "after the last position"
never skips one.

``wake`` makes it poll at once (a serving node wakes it whenever PostgreSQL
notifies a commit, ``services.log_notices``): then a change is served within
the fold, not half an interval on average. Wakes closer together than
``min_gap`` (0.1 s) are taken together, so a burst of commits costs one
generation per gap rather than one per commit; polling stays the guarantee
(a notice may be lost while its connection is down). At 50 commits/s on
three nodes, 0.1 s rather than 0.05 s kept more of the nodes' CPU for
requests (throughput under writes 0.80 and 0.83 of quiet, against 0.79-0.81)
for 50 ms more between commit and served (p99 104 ms; ``bench/scale.py``).

Failures (the store restarting, a network blip) are logged and retried with
a growing pause, up to ``max_backoff`` (1 s: a node must catch up within
moments of the store's return); the state keeps serving the last generation
it built meanwhile, and ``stale_for`` says for how long.

``prepare`` runs once before the first fold, with the store: a serving node
uses it to start from a checkpoint rather than from the start of the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from rulelog.projections.serving import ServingState

__all__ = ["Follower"]

log = structlog.get_logger("rulelog.follow")

#: Blobs loaded per step of warming, between two polls.
WARM_STEP = 256


class Follower:
    """Polls the log and advances ``state``; ``start``/``stop`` run it in a thread.

    ``store`` returns the application to read (it may open it on first call).
    """

    def __init__(
        self,
        store: Callable[[], Any],
        state: ServingState,
        *,
        interval: float = 0.2,
        max_backoff: float = 1.0,
        min_gap: float = 0.1,
        on_advance: Callable[[int], None] | None = None,
        prepare: Callable[[Any], None] | None = None,
        on_poll: Callable[[int | None], None] | None = None,
        read: Callable[[Any], Callable[..., Any] | None] | None = None,
    ) -> None:
        self.store = store  # opened lazily, so a follower can start while the store is down
        self.state = state
        self.interval = interval
        self.max_backoff = max_backoff
        self.min_gap = min_gap
        self.on_advance = on_advance
        self.prepare = prepare
        #: Called after every poll with the events folded (None: the poll failed).
        self.on_poll = on_poll
        #: Given the store, a faster reader of its log than ``read_log`` (or None).
        self.read = read
        self.last_success: float | None = None  # time.monotonic() of the last good poll
        self.failures = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._folding = threading.Lock()
        #: Blobs still to load after the last fold (see ``_warm``).
        self._warm_due = False
        #: (store, its reader) once ``read`` has been asked for one.
        self._reader: tuple[Any, Callable[..., Any] | None] | None = None

    def poll_once(self) -> int:
        """Fold whatever is new; returns the number of events folded.

        Safe to call while the thread runs: folds are serialised, since the
        state has one writer at a time.
        """
        with self._folding:
            app = self.store()
            if self.prepare is not None and not self.state.loaded:
                self.prepare(app)
                self.prepare = None
            reader = self._reader_of(app)
            count = self.state.advance(app, reader) if reader else self.state.advance(app)
            if count:
                self._warm_due = True
        if count and self.on_advance is not None:
            self.on_advance(count)
        self.last_success = time.monotonic()
        self.failures = 0
        return count

    def _reader_of(self, app: Any) -> Callable[..., Any] | None:
        """``read``'s reader of ``app``, made once per store (not once per poll: a poll
        that finds nothing new is then mostly one statement's execution)."""
        if self.read is None:
            return None
        if self._reader is None or self._reader[0] is not app:
            self._reader = (app, self.read(app))
        return self._reader[1]

    def _warm(self) -> bool:
        """One step of loading the blobs rules map to; True while more remain.

        Outside the fold's lock and a step at a time, so a node is ready, and
        keeps folding new events, while a big store's blobs are still loading.
        """
        try:
            more = self.state.warm(WARM_STEP) >= WARM_STEP
        except Exception as error:  # requests load what they need themselves
            log.warning("follow.warm_failed", error=f"{type(error).__name__}: {error}")
            more = False
        self._warm_due = more
        return more

    def stale_for(self) -> float | None:
        """Seconds since the last good poll, if the last poll failed (else None)."""
        return self.since_success() if self.failures else None

    def since_success(self) -> float:
        """Seconds since the last good poll (or since this follower was made)."""
        since = self.last_success if self.last_success is not None else self.started
        return time.monotonic() - since

    def wake(self) -> None:
        """Poll now rather than at the end of the current pause."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rulelog-follow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _report(self, count: int | None) -> None:
        """``on_poll``, which must never stop the follower."""
        if self.on_poll is None:
            return
        try:
            self.on_poll(count)
        except Exception as error:
            log.warning("follow.on_poll_failed", error=f"{type(error).__name__}: {error}")

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                count = self.poll_once()
                pause = self.interval
                if count:
                    took = round((time.monotonic() - began) * 1000, 1)
                    position = self.state.index.position
                    log.debug("follow.advanced", events=count, position=position, took_ms=took)
            except Exception as error:  # keep serving the last generation; retry
                self.failures += 1
                if self.failures == 1:
                    log.warning("follow.stale", position=self.state.index.position)
                pause = min(max(pause * 2, self.interval), self.max_backoff)
                log.warning(
                    "follow.failed",
                    error=f"{type(error).__name__}: {error}",
                    failures=self.failures,
                    retry_in=pause,
                )
                count = None
            self._report(count)
            if self._warm_due and not self.failures and self._warm():
                continue  # more blobs to load: poll again at once, then the next step
            if self._wake.wait(pause):  # woken early: take what lands within the gap too
                self._stop.wait(max(0.0, began + self.min_gap - time.monotonic()))
            self._wake.clear()
