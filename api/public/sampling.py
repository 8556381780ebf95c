"""A bounded, random sample of the update requests this process answered.

``rulelog impact`` replays the sample to say how many real requests a change
would move. Sampling must cost the hot path almost nothing: one random number
per answered request, and for the sampled few an append to a bounded queue; a
thread of its own writes the queue to the store every ``interval`` seconds.
Only the request target is kept (path and Balrog's query options): no address,
no header. The sample is best-effort (a failed write drops that batch and is
logged); it is never part of the event log.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence

import structlog

from rulelog.api.flush_thread import FlushThread
from rulelog.api.request_log import LOGGED_TARGET_MAX
from rulelog.projections.read_only import note_fallback, refused

log = structlog.get_logger("rulelog.sampling")


class RequestSampler:
    """Offers answered targets at ``rate``; hands batches to ``sink`` from a thread."""

    def __init__(
        self,
        sink: Callable[[Sequence[str]], None],
        rate: float,
        *,
        interval: float = 1.0,
        queue_max: int = 10_000,
        dice: Callable[[], float] = random.random,
    ) -> None:
        self.sink = sink
        self.rate = rate
        self.interval = interval
        self._dice = dice
        self._queue: deque[str] = deque(maxlen=queue_max)
        self._writer = FlushThread("rulelog-sampler", interval, self.flush)

    def offer(self, target: bytes) -> None:
        """Keep ``target`` with probability ``rate`` (called once per answered request)."""
        if self.rate > 0 and self._dice() < self.rate:
            self._queue.append(target[:LOGGED_TARGET_MAX].decode("latin-1"))

    def flush(self) -> int:
        """Write what is queued now; returns how many targets were written."""
        batch = [self._queue.popleft() for _ in range(len(self._queue))]
        if batch:
            try:
                self.sink(batch)
            except Exception as error:  # the store is away: drop this batch, keep serving
                if refused(error):  # a read-only replica or role: never, so stop asking
                    self.rate = 0
                    note_fallback("request_sample", dropped=len(batch))
                    return 0
                log.warning("sample.write_failed", dropped=len(batch), error=str(error)[:200])
                return 0
        return len(batch)

    def start(self) -> None:
        if self.rate > 0:
            self._writer.start()

    def close(self) -> None:
        self._writer.stop()
        self.flush()
