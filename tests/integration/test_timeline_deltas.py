"""The timeline's deltas: what they record, and that reading through them is a fold.

* every handler's change is marked (a missed mark would make a delta, and every
  state read through it, silently wrong), on the events of the old store
  fixture, which holds every event type the catalogue folds but one, added here;
* with small D and K (many Fenwick levels, several full checkpoints), the state
  at every position equals the fold from zero -- in the tables' order too, so
  checkpoints have the bytes of a fold -- and a rebuild writes byte for byte
  the rows that catch-ups in random chunks wrote, on SQLite and PostgreSQL;
* a store indexed before deltas existed reads and catches up correctly.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from rulelog.api.config import open_app, open_timeline
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.projections import checkpoints
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.projections.state_events import HANDLERS
from rulelog.projections.timeline import (
    Timeline,
    checkpoints_table,
    deltas_table,
    positions_table,
)
from rulelog.services.application import RulelogApp
from tests.conftest import DATA, new_store
from tests.integration.test_timeline_properties import apply, op, seed

FIXTURE = DATA / "store-v0.1.db"
TABLES = (
    "rules",
    "releases",
    "shutoffs",
    "pins",
    "scheduled",
    "users",
    "uptake",
    "expectations",
)


@pytest.fixture
def old_app(tmp_path: Path) -> Iterator[RulelogApp]:
    """The old store, plus the one folded event type it lacks (a shutoff's comment
    changed, which only a Balrog import writes)."""
    target = tmp_path / "store.db"
    shutil.copyfile(FIXTURE, target)
    app = open_app(f"sqlite:///{target}")
    state = Catalog().fold(read_log(app))
    product, channel = next(iter(state.shutoffs))
    shutoff = app.get_shutoff(product, channel)
    shutoff.change_comment("changed by the delta test", "a")
    app.save(shutoff)
    yield app
    app.close()


def rows_of(state: Catalog) -> dict[tuple[str, Any], Any]:
    """Every (table, key) of ``state`` with a copy of its value."""
    found: dict[tuple[str, Any], Any] = {}
    for table in TABLES:
        for key, value in getattr(state, table).items():
            found[(table, key)] = copy.deepcopy(value)
    for originator, stream in state._streams.items():
        found[("_streams", originator)] = (stream.table, stream.key, stream.base)
    found[("policies", None)] = copy.deepcopy(state.policies)
    found[("test_channels", None)] = dict(state.test_channels)
    return found


@pytest.mark.parametrize("keep_ended", [False, True])
def test_every_handler_marks_what_it_changes(old_app: RulelogApp, keep_ended: bool) -> None:
    state = Catalog(keep_ended=keep_ended)
    state.track_changes()
    seen = set()
    for logged in read_log(old_app):
        before = rows_of(state)
        state.apply(logged)
        marks = state.take_changes()
        after = rows_of(state)
        changed = {
            key
            for key in before.keys() | after.keys()
            if before.get(key, "missing") != after.get(key, "missing")
        }
        assert changed <= marks.keys(), (type(logged.event).__qualname__, changed - marks.keys())
        inserted = {key for key in after.keys() - before.keys() if key[1] is not None}
        assert all(marks[key] for key in inserted), type(logged.event).__qualname__
        if type(logged.event) in HANDLERS:
            seen.add(type(logged.event))
    assert seen == set(HANDLERS)
    assert EmergencyShutoff.CommentChanged in seen


def test_an_unmarked_change_is_caught(old_app: RulelogApp, monkeypatch: Any) -> None:
    """The check above can fail: a handler writing a row of another stream is seen."""
    original = HANDLERS[EmergencyShutoff.CommentChanged]

    def sneaky(c: Catalog, ev: Any) -> None:
        original(c, ev)
        c.rules[999_999] = {"rule_id": 999_999}

    monkeypatch.setitem(HANDLERS, EmergencyShutoff.CommentChanged, sneaky)
    state = Catalog()
    state.track_changes()
    for logged in read_log(old_app):
        before = set(rows_of(state))
        state.apply(logged)
        missed = set(rows_of(state)) - before - state.take_changes().keys()
        if missed:
            assert missed == {("rules", 999_999)}
            return
    pytest.fail("the unmarked row was not noticed")


def stored_rows(timeline: Timeline) -> tuple[list[Any], ...]:
    with timeline.engine.connect() as conn:
        return tuple(
            conn.execute(select(table).order_by("position")).all()
            for table in (positions_table, checkpoints_table, deltas_table)
        )


def assert_reads_are_folds(app: RulelogApp, timeline: Timeline) -> None:
    """``state_at`` and ``checkpoint_at_or_before`` against the fold from zero, at
    every position (``to_data`` keeps the tables' order)."""
    head = last_position(app)
    folded = Catalog()
    folds = {0: copy.deepcopy(folded.to_data())}
    for logged in read_log(app):
        folded.apply(logged)
        folds[logged.position] = copy.deepcopy(folded.to_data())
    for position in range(head + 1):
        assert timeline.state_at(position).to_data() == folds[position], position
        stored = timeline.checkpoint_at_or_before(position)
        assert stored.position <= position
        assert stored.to_data() == folds[stored.position], position


SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    commands=st.lists(op, min_size=10, max_size=40),
    chunks=st.lists(st.integers(1, 6), min_size=40, max_size=40),
    delta_every=st.integers(1, 4),
    every=st.integers(1, 12),
)
def test_deltas_read_as_folds_and_rebuild_writes_the_same(
    store_kind: str,
    commands: list[tuple[Any, ...]],
    chunks: list[int],
    delta_every: int,
    every: int,
) -> None:
    with new_store(store_kind) as store:
        app = store.open()
        seed(app)
        timeline = open_timeline(app)
        timeline.every, timeline.delta_every = every, delta_every
        done = 0
        for chunk in chunks:  # catch up after every few commands
            for command in commands[done : done + chunk]:
                apply(app, command)
            done += chunk
            timeline.catch_up()
        assert_reads_are_folds(app, timeline)
        incremental = stored_rows(timeline)
        timeline.rebuild()
        assert stored_rows(timeline) == incremental


def test_many_levels_and_full_checkpoints(store_kind: str) -> None:
    """A fixed log long enough for deltas over several levels and full checkpoints
    spaced by the catalogue's size."""
    commands = [("create", "release", i, "R-1") for i in range(12)]
    commands += [("update", 1 + i % 12, i) for i in range(150)]
    commands += [("delete", i) for i in range(1, 7)] + [("recreate", "R-2", 3)]
    with new_store(store_kind) as store:
        app = store.open()
        seed(app)
        timeline = open_timeline(app)
        timeline.every, timeline.delta_every = 5, 1
        for i, command in enumerate(commands):
            apply(app, command)
            if i % 17 == 0:
                timeline.catch_up()
        timeline.catch_up()
        with timeline.engine.connect() as conn:
            fulls = conn.execute(select(func.count()).select_from(checkpoints_table)).scalar()
            widest = conn.execute(select(func.max(deltas_table.c.span))).scalar()
        assert fulls and fulls >= 2, (fulls, last_position(app))
        # Deltas over two levels above the narrowest (BASE ** 2 boundaries).
        assert widest is not None and widest >= checkpoints.BASE**2 * timeline.delta_every
        assert_reads_are_folds(app, timeline)
        incremental = stored_rows(timeline)
        timeline.rebuild()
        assert stored_rows(timeline) == incremental


def test_a_store_indexed_before_deltas_catches_up(old_app: RulelogApp) -> None:
    """The fixture's checkpoints (every 50 events) have no deltas after them: reads
    fold over the gap, and the catch-up's deltas cover it from then on."""
    timeline = open_timeline(old_app)
    timeline.delta_every = 1  # the tracked position (252) is past boundaries without deltas
    for _ in range(3):
        old_app.add_user(f"u{last_position(old_app)}", admin=True, recorded_by="admin")
    timeline.catch_up()
    assert_reads_are_folds(old_app, timeline)
    head = last_position(old_app)
    assert timeline.checkpoint_at_or_before(head).position > 250


def test_chain_and_merge() -> None:
    assert checkpoints.chain(13) == [4, 8, 12, 13] if checkpoints.BASE == 4 else [8, 12, 13]
    assert checkpoints.chain(16) == [16]  # a power of 2 and of 4
    assert checkpoints.chain(0) == []
    merged = checkpoints.merge({("rules", 1): True, ("rules", 2): False}, {("rules", 1): False})
    assert list(merged.items()) == [(("rules", 1), True), (("rules", 2), False)]
    merged = checkpoints.merge({("rules", 1): False, ("rules", 2): False}, {("rules", 1): True})
    assert list(merged.items()) == [(("rules", 2), False), (("rules", 1), True)]
