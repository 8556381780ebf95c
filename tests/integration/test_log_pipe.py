"""A second process reading the log (``projections.log_pipe``): its slimmed events
fold to the state the log's own events fold to, and a rebuild through it writes
the same rows, on SQLite and PostgreSQL; a reader that fails or dies is
reported, never taken for the log's end."""

from __future__ import annotations

import io
import os
import pickle
import queue
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.projections import log_pipe
from rulelog.projections.log import last_position
from rulelog.projections.log_pipe import decoded
from rulelog.projections.state import Catalog, folded_topics
from rulelog.projections.state_events import DIGESTED, PIPED_DIGEST
from rulelog.services.application import RulelogApp
from tests.conftest import Store
from tests.integration.test_timeline_deltas import assert_reads_are_folds, stored_rows
from tests.integration.test_timeline_properties import apply, seed

COMMANDS = [("create", "release", i, "R-1") for i in range(6)]
COMMANDS += [("update", 1 + i % 6, i) for i in range(40)] + [("delete", 2)]
COMMANDS += [("recreate", "R-2", 3), ("create", "release", 9, "R-2")]


def filled(store: Store) -> RulelogApp:
    app = store.open()
    seed(app)
    for command in COMMANDS:
        apply(app, command)
    return app


def folded_from(items: list[tuple[int, Any, int]]) -> dict[str, Any]:
    state = Catalog()
    with state.digests_deferred():
        for position, event, _ in items:
            if event is not None:
                state.apply_event(position, event)
            state.position = position
    return state.to_data()


def without_time(event: Any) -> Any:
    """An event's fields other than its timestamp (which is not sent)."""
    return None if event is None else (type(event), {**vars(event), "timestamp": None})


def test_piped_events_fold_as_the_logs_own(store: Store) -> None:
    app = filled(store)
    head = last_position(app)
    topics = folded_topics()
    here = list(decoded(app, 1, head, topics, piped=False))
    there = list(decoded(app, 1, head, topics, piped=True))
    assert len(here) == head and any(e is None for _, e, _ in here)
    assert [(p, m) for p, _, m in there] == [(p, m) for p, _, m in here]
    slim = [e for _, e, _ in there if type(e) in DIGESTED]
    assert slim and all(getattr(e, PIPED_DIGEST) for e in slim)
    assert all(set(e.blob) <= {"name"} for e in slim)  # the blobs stayed behind
    assert all(e.timestamp is None for _, e, _ in there if e is not None)  # sent beside
    assert [without_time(e) for _, e, _ in there if type(e) not in DIGESTED] == [
        without_time(e) for _, e, _ in here if type(e) not in DIGESTED
    ]
    assert folded_from(there) == folded_from(here)
    part = list(decoded(app, 5, head - 3, topics, piped=True))
    assert [p for p, _, _ in part] == list(range(5, head - 2))


def test_a_rebuild_through_the_pipe_writes_the_same_rows(store: Store, monkeypatch: Any) -> None:
    app = filled(store)
    timeline = open_timeline(app)
    timeline.every, timeline.delta_every = 5, 1
    timeline.catch_up()
    incremental = stored_rows(timeline)
    monkeypatch.setattr(log_pipe, "PIPED_FROM", 1)
    monkeypatch.setattr(log_pipe, "PIPE_PAGE", 7)  # several pages, the last partly filled
    timeline.rebuild()
    assert stored_rows(timeline) == incremental
    assert_reads_are_folds(app, timeline)


class OpenedOnlyHere(RulelogApp):
    """The store's application, which a reading process (importing this module
    afresh, so without ``opened_here``) fails to open."""

    opened_here = False

    def __init__(self, env: Any = None) -> None:
        if not OpenedOnlyHere.opened_here:
            raise RuntimeError("no such store here")
        super().__init__(env=env)


class DiesElsewhere(OpenedOnlyHere):
    """A reading process that dies without a word (killed, out of memory)."""

    def __init__(self, env: Any = None) -> None:
        if not OpenedOnlyHere.opened_here:
            os._exit(3)
        super().__init__(env=env)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        (OpenedOnlyHere, r"(?s)the log reader failed.*no such store here"),
        (DiesElsewhere, r"the log reader stopped: exit code 3"),
    ],
)
def test_a_reader_that_fails_is_reported(
    store: Store, monkeypatch: Any, kind: type[RulelogApp], said: str
) -> None:
    app = filled(store)
    monkeypatch.setattr(OpenedOnlyHere, "opened_here", True)
    here = kind(env=dict(app.env))
    with pytest.raises(RuntimeError, match=said):
        list(decoded(here, 1, 10, folded_topics(), piped=True))


class Chatty(RulelogApp):
    """An application that prints as it opens (a library's warning, a debug line)."""

    name = RulelogApp.name  # the same store's tables

    def __init__(self, env: Any = None) -> None:
        print("a line on standard output")
        super().__init__(env=env)


def test_what_a_reader_prints_does_not_get_into_its_pages(store: Store) -> None:
    app = filled(store)
    head = last_position(app)
    chatty = Chatty(env=dict(app.env))
    there = list(decoded(chatty, 1, head, folded_topics(), piped=True))
    assert [p for p, _, _ in there] == list(range(1, head + 1))


@pytest.mark.parametrize(
    "sent",
    [
        lambda page: len(page).to_bytes(8, "little") + page[:-3],  # died writing
        lambda page: b"a line\n" + page,  # not a length
        lambda page: (1 << 63).to_bytes(8, "little") + page,
    ],
)
def test_a_stream_that_is_not_pages_ends_the_reader(sent: Callable[[bytes], bytes]) -> None:
    pages: queue.Queue[bytes | None] = queue.Queue()
    log_pipe._forward(io.BytesIO(sent(pickle.dumps([(1, None, 5)]))), pages)
    assert pages.get_nowait() is None


def test_a_reader_still_running_when_its_stream_went_wrong_is_stopped_and_reported() -> None:
    said = "import sys, time; print('a line', file=sys.stderr); print('up', flush=True)"
    said += "; time.sleep(60)"
    stuck = subprocess.Popen(
        [sys.executable, "-c", said], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert stuck.stdout is not None and stuck.stdout.readline() == b"up\n"  # it wrote
    told = log_pipe._told(stuck, grace=0.2)
    assert stuck.poll() is not None  # killed, not waited for
    assert told == f"exit code {-signal.SIGKILL}, a line"
    stuck.stdout.close()


def test_a_store_in_memory_is_read_in_process() -> None:
    app = RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert not log_pipe.shareable(app)
