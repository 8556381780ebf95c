"""One public process's serving state: the store, the live index, its follower.

Each process builds its own index (``ServingState``) and keeps it current
with a ``Follower`` thread, so workers share nothing but the event store; on
PostgreSQL a ``LogNotices`` thread wakes the follower as each commit lands.
``PublicServer.answer`` evaluates one parsed request over one index
generation (``domain.serving.evaluate``), never blocking the event loop.
"""

from __future__ import annotations

import functools
import sys
import threading
import uuid
from typing import Any

import anyio

from rulelog.api.config import open_app, open_timeline
from rulelog.api.logs import get_logger
from rulelog.api.metrics import record_poll
from rulelog.api.public.settings import PublicSettings
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.evaluate import Dice, evaluate
from rulelog.domain.serving.evaluate import Response as Answer
from rulelog.domain.serving.request import UpdateRequest
from rulelog.projections.checkpoints import freeze_loaded
from rulelog.projections.follow import Follower
from rulelog.projections.log import last_position
from rulelog.projections.serving import LiveIndex, ServingState
from rulelog.services.log_notices import LogNotices, tail_reader

__all__ = ["PublicServer"]

log = get_logger("rulelog.public")


class PublicServer:
    """One process's serving state: the store, the index and its follower."""

    def __init__(
        self,
        database_url: str | None = None,
        settings: PublicSettings | None = None,
        *,
        store: Any = None,
    ) -> None:
        self.database_url = database_url
        self.settings = settings or PublicSettings()
        self.state = ServingState(blob_limit=self.settings.blob_cache_size)
        self.worker = uuid.uuid4().hex[:12]
        self._store = store
        self._opening = threading.Lock()
        #: The switch interval before ``start`` set this process's (restored by ``stop``).
        self._switch_interval: float | None = None
        prepare = self._start_from_checkpoint if self.settings.start_from_checkpoint else None
        self.follower = Follower(
            self.store,
            self.state,
            interval=self.settings.poll_interval,
            prepare=prepare,
            on_poll=self._polled,
            read=tail_reader,
        )
        self.notices = LogNotices(self.store, self.follower.wake)

    def _polled(self, count: int | None) -> None:
        record_poll(self.state.index.position, count, self.follower.last_success)

    def store(self) -> Any:
        """The event store, opened on first use (so a server can start while it is down)."""
        with self._opening:
            if self._store is None:
                self._store = open_app(self.database_url)
            return self._store

    def ping(self) -> None:
        """Ask the store for the log's head: raises when it does not answer."""
        last_position(self.store())

    def _start_from_checkpoint(self, app: Any) -> None:
        """Start the index from the newest checkpoint: a node then folds only the tail.

        When the timeline lags the log by more than K events, it is brought up to
        date first (its checkpoints then serve every node started later; nodes
        starting together race safely). Anything failing here only means a fold
        from the start of the log, as without checkpoints.
        """
        try:
            timeline = open_timeline(app)
            head = last_position(app)
            if head - timeline.tracked()[0] > timeline.every:
                head = timeline.catch_up()
            checkpoint = timeline.checkpoint_at_or_before(head)
        except Exception as error:
            log.warning("public.no_checkpoint", error=f"{type(error).__name__}: {error}")
            return
        if checkpoint.position:
            self.state.start_from(checkpoint, app)
        log.info("public.checkpoint", position=checkpoint.position, head=head)

    def start(self) -> None:
        """Load the index before serving; if the store is down, keep retrying in the background."""
        try:
            self.follower.poll_once()
        except Exception as error:
            log.error("public.initial_load_failed", error=f"{type(error).__name__}: {error}")
        # What is loaded now (modules, the index: 125k objects) lives as long as the
        # process: out of the collector's sight, a collection traverses only what came
        # since (under load, the longest young collection went from 45 ms to 2).
        freeze_loaded()
        # The follower shares the interpreter with the event loop, which is busy with
        # requests under load: each time the follower's read of the log returns, it
        # waits a whole switch interval for the loop to yield. A poll takes several such
        # turns, so at Python's default (5 ms) a change reached the index in 7-9 ms
        # (median; the 99th centile 600-900 ms when the cores were contended) where the
        # database answered in under one. A shorter interval costs nothing while the
        # loop runs alone, and also returns the loop its turn sooner after a fold.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(self.settings.switch_interval)
        if self.settings.follow:
            self.follower.start()
            self.notices.start()
        log.info("public.started", position=self.state.index.position, worker=self.worker)

    def stop(self) -> None:
        self.notices.stop()
        self.follower.stop()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    async def answer(
        self,
        request: UpdateRequest,
        index: LiveIndex | None = None,
        info: dict[str, Any] | None = None,
        rng: Dice | None = None,
    ) -> tuple[Answer, int]:
        """The answer over ``index`` (default: the current generation) and the log
        position it was computed at; ``info`` (the request's log items) learns whether
        the blobs were all in memory, and whether the live index answered (``live``);
        ``rng`` rolls the backgroundRate dice (default: ``evaluate``'s).

        Two steps at most. The evaluation runs on the event loop over the blobs in
        memory (nearly always all it needs); if it missed one, that attempt is void
        and the evaluation runs once more in a worker thread, over a view that loads
        each blob it asks for -- so the second never misses, and the loop never blocks.
        """
        index = self.state.index if index is None else index
        view = index.for_request(request)
        if info is not None:
            info["live"] = view.index is index  # not a derived test channel's index
        try:
            answer = evaluate(request, view, rng=rng, settings=self.settings.serving)
        except Invalid:
            if not view.missing:
                raise
        else:
            if not view.missing:
                return answer, index.position
        finally:
            if info is not None:
                info["cache"] = "miss" if view.missing else "hit"
        loading = index.for_request(request, load=True)
        run = functools.partial(
            evaluate, request, loading, rng=rng, settings=self.settings.serving
        )
        return await anyio.to_thread.run_sync(run), index.position
