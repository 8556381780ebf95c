"""The log read and decoded by a second process, for a fold that keeps the first busy.

A rebuild of the timeline reads every stored event, decodes the ones the
fold acts on and folds them, writing checkpoints and deltas as it goes; on one
core, reading and decoding were about a third of its time. ``decoded`` hands
that third to another process when the stretch is long (a rebuild, a node far
behind): a child opens its own application on the same store, reads and
decodes in pages, and sends each page (pickled, which the parent loads in C,
several times faster than decoding JSON) through a bounded queue, so the
parent only folds and writes while the child reads ahead on the other core.

What comes out is exactly what reading in-process gives, in order:
``(position, event or None, recorded time in microseconds)``; an event the
fold ignores (an index aggregate's) is None with its time alone. A store only
this process can reach (in memory) is read in-process; so is a short stretch,
which would not repay starting a process.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application

from rulelog.projections.log import read_notifications, timestamp_of

#: Positions from which a stretch is read by a second process.
PIPED_FROM = 50_000
#: Positions per page sent; pages waiting in the queue at most (memory is bounded
#: by these, whatever the log's size).
PIPE_PAGE = 2_000
PIPE_DEPTH = 8
#: Seconds between checks that the reading process is still alive.
_POLL = 1.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: One position: (position, the decoded event or None, recorded microseconds).
Decoded = tuple[int, Any, int]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - _EPOCH  # integer parts: a rebuild converts every event's time
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def decoded(
    app: Application, start: int, stop: int, topics: Sequence[str], *, piped: bool | None = None
) -> Iterator[Decoded]:
    """Positions ``start`` to ``stop``, each event of ``topics`` decoded (see the module).

    ``piped`` forces the choice (tests); by default a second process reads
    stretches of ``PIPED_FROM`` positions or more from stores it can open.
    """
    if piped is None:
        piped = stop - start + 1 >= PIPED_FROM and _shareable(app)
    if not piped:
        yield from _read(app, start, stop, topics)
        return
    yield from _piped(app, start, stop, topics)


def _shareable(app: Application) -> bool:
    """Whether another process can open the store: a SQL database on disk or a server."""
    engine = getattr(getattr(app.recorder, "datastore", None), "engine", None)
    if engine is None:
        return False
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return database not in ("", ":memory:") and "mode=memory" not in str(url)
    return True


def _read(app: Application, start: int, stop: int, topics: Sequence[str]) -> Iterator[Decoded]:
    folded = frozenset(topics)
    decode = app.mapper.to_domain_event
    for notification in read_notifications(app, start=start, stop=stop):
        if notification.topic in folded:
            event = decode(notification)
            yield notification.id, event, to_us(event.timestamp)
        else:
            yield notification.id, None, to_us(timestamp_of(app, notification))


def _piped(app: Application, start: int, stop: int, topics: Sequence[str]) -> Iterator[Decoded]:
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    pages: Any = context.Queue(PIPE_DEPTH)
    env = dict(app.env)
    arguments = (type(app), env, start, stop, tuple(topics), pages)
    reader = context.Process(target=_reader, args=arguments, name="rulelog-log-reader")
    reader.daemon = True  # never outlives the fold it feeds
    reader.start()
    try:
        while True:
            try:
                page = pages.get(timeout=_POLL)
            except queue.Empty:
                if not reader.is_alive():
                    raise RuntimeError(
                        f"the log reader stopped (exit code {reader.exitcode})"
                    ) from None
                continue
            if page is None:
                return
            if isinstance(page, str):
                raise RuntimeError(f"the log reader failed:\n{page}")
            yield from page
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        pages.close()
        pages.join_thread()


def _reader(
    app_class: type[Application],
    env: dict[str, str],
    start: int,
    stop: int,
    topics: tuple[str, ...],
    pages: Any,
) -> None:
    """The second process: pages of ``_read`` into ``pages``, then None (or the error)."""
    try:
        app = app_class(env=env)
        page: list[Decoded] = []
        for item in _read(app, start, stop, topics):
            page.append(item)
            if len(page) >= PIPE_PAGE:
                pages.put(page)
                page = []
        if page:
            pages.put(page)
        pages.put(None)
    except BaseException:
        pages.put(traceback.format_exc())
