"""A second process reading the log (``projections.log_pipe``) gives what reading
in-process gives, and a rebuild through it writes the same rows, on SQLite and
PostgreSQL; a reader that fails is reported, never taken for the log's end."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from rulelog.api.config import open_timeline
from rulelog.projections import log_pipe
from rulelog.projections.log import last_position
from rulelog.projections.log_pipe import decoded
from rulelog.projections.state import folded_topics
from rulelog.services.application import RulelogApp
from tests.conftest import Store
from tests.integration.test_timeline_deltas import assert_reads_are_folds, stored_rows
from tests.integration.test_timeline_properties import apply, seed

COMMANDS = [("create", "release", i, "R-1") for i in range(6)]
COMMANDS += [("update", 1 + i % 6, i) for i in range(40)] + [("delete", 2)]


def filled(store: Store) -> RulelogApp:
    app = store.open()
    seed(app)
    for command in COMMANDS:
        apply(app, command)
    return app


def test_piped_reads_equal_in_process_reads(store: Store) -> None:
    app = filled(store)
    head = last_position(app)
    topics = folded_topics()
    here = list(decoded(app, 1, head, topics, piped=False))
    assert len(here) == head and any(e is None for _, e, _ in here)
    assert list(decoded(app, 1, head, topics, piped=True)) == here
    assert list(decoded(app, 5, head - 3, topics, piped=True)) == here[4 : head - 3]


def test_a_rebuild_through_the_pipe_writes_the_same_rows(store: Store, monkeypatch: Any) -> None:
    app = filled(store)
    timeline = open_timeline(app)
    timeline.every, timeline.delta_every = 5, 1
    timeline.catch_up()
    incremental = stored_rows(timeline)
    monkeypatch.setattr(log_pipe, "PIPED_FROM", 1)
    monkeypatch.setattr(log_pipe, "PIPE_PAGE", 7)  # several pages, one partly filled
    timeline.rebuild()
    assert stored_rows(timeline) == incremental
    assert_reads_are_folds(app, timeline)


class OpenedOnlyHere(RulelogApp):
    """The store's application, which a reading process fails to open."""

    def __init__(self, env: Any = None) -> None:
        if multiprocessing.parent_process() is not None:
            raise RuntimeError("no such store here")
        super().__init__(env=env)


def test_a_failing_reader_is_reported(store: Store) -> None:
    app = filled(store)
    here = OpenedOnlyHere(env=dict(app.env))
    with pytest.raises(RuntimeError, match=r"(?s)the log reader failed.*no such store here"):
        list(decoded(here, 1, 10, folded_topics(), piped=True))


def test_a_store_in_memory_is_read_in_process() -> None:
    app = RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert not log_pipe._shareable(app)
