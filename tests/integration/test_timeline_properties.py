"""Laws of the timeline over random command sequences, on SQLite and PostgreSQL.

* the state at any position built from a checkpoint equals the replay from zero;
* a full rebuild equals the incrementally maintained projection;
* enacting every pending change of a channel makes its live view equal the
  test view from just before;
* a test view differs from the live view by exactly the pending changes
  that touch the channel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rulelog.api.config import open_timeline
from rulelog.domain.errors import RulelogError
from rulelog.projections.log import last_position, read_log
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import checkpoints_table, positions_table
from rulelog.projections.views import derived_view, live_view
from rulelog.services.application import RulelogApp
from tests.conftest import new_store

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WHEN = {"when": (T0 + timedelta(hours=1)).isoformat()}
CHANNELS = ("release", "beta", "release*")
RELEASES = ("R-1", "R-2")


def blob(name: str, version: int) -> dict[str, Any]:
    return {
        "name": name,
        "schema_version": 1,
        "appv": f"{version}.0",
        "extv": f"{version}.0",
        "hashFunction": "sha512",
        "platforms": {},
    }


def seed(app: RulelogApp) -> None:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.add_user("a", admin=True, recorded_by="a")
    for name in RELEASES:
        app.create_release(name, "Firefox", blob(name, 1), "a")


op = st.one_of(
    st.tuples(
        st.just("create"), st.sampled_from(CHANNELS), st.integers(0, 50), st.sampled_from(RELEASES)
    ),
    st.tuples(st.just("update"), st.integers(1, 6), st.integers(0, 50)),
    st.tuples(st.just("delete"), st.integers(1, 6)),
    st.tuples(st.just("blob"), st.sampled_from(RELEASES), st.integers(2, 9)),
    st.tuples(
        st.just("schedule"), st.integers(1, 6), st.sampled_from(CHANNELS), st.integers(0, 50)
    ),
    st.tuples(st.just("schedule_blob"), st.sampled_from(RELEASES), st.integers(2, 9)),
    st.tuples(st.just("cancel"), st.integers(1, 8)),
    st.tuples(st.just("recreate"), st.sampled_from(RELEASES), st.integers(2, 9)),
)


def apply(app: RulelogApp, command: tuple[Any, ...]) -> None:
    """Run one command; refusals (missing rows, conflicts) are part of the sequence."""
    name = command[0]
    try:
        if name == "create":
            _, channel, priority, release = command
            app.create_rule(
                {
                    "product": "Firefox",
                    "channel": channel,
                    "priority": priority,
                    "backgroundRate": 100,
                    "update_type": "minor",
                    "mapping": release,
                },
                "a",
            )
        elif name == "update":
            rule = app.get_rule(command[1])
            app.update_rule(rule.rule_id, rule.data_version, {"priority": command[2]}, "a")
        elif name == "delete":
            rule = app.get_rule(command[1])
            app.delete_rule(rule.rule_id, rule.data_version, "a")
        elif name == "blob":
            release = app.get_release(command[1])
            app.replace_release_blob(
                release.name, release.data_version, blob(release.name, command[2]), "a"
            )
        elif name == "schedule":
            rule = app.get_rule(command[1])
            app.schedule_change(
                "rules",
                "update",
                {"rule_id": rule.rule_id, "channel": command[2], "priority": command[3]},
                WHEN,
                "a",
                data_version=rule.data_version,
            )
        elif name == "schedule_blob":
            release = app.get_release(command[1])
            app.schedule_change(
                "releases",
                "update",
                {"name": release.name, "data": blob(release.name, command[2])},
                WHEN,
                "a",
                data_version=release.data_version,
            )
        elif name == "recreate":
            # Delete a release (refused while rules map it) and create it again:
            # the stream continues and data_version restarts.
            release = app.get_release(command[1])
            app.delete_release(release.name, release.data_version, "a")
            app.create_release(release.name, "Firefox", blob(release.name, command[2]), "a")
        elif name == "cancel":
            sc = app.get_scheduled_change("rules", command[1])
            app.cancel_scheduled_change("rules", sc.sc_id, sc.data_version, "a")
    except RulelogError:
        pass


@contextmanager
def replayed(
    store_kind: str, commands: list[tuple[Any, ...]], *, enactor: bool = False
) -> Iterator[RulelogApp]:
    """A new store of that kind, seeded, ``commands`` applied; robot may enact if
    ``enactor`` (granted before the commands)."""
    with new_store(store_kind) as store:
        app = store.open()
        seed(app)
        if enactor:
            app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "a")
        for command in commands:
            apply(app, command)
        yield app


def projection_rows(timeline: Any) -> tuple[list[Any], list[Any]]:
    """Every row of the timeline's position index and of its checkpoints, in order."""
    with timeline.engine.connect() as conn:
        return (
            conn.execute(select(positions_table).order_by("position")).all(),
            conn.execute(select(checkpoints_table).order_by("position")).all(),
        )


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(commands=st.lists(op, min_size=1, max_size=25), every=st.integers(1, 6))
def test_checkpoints_and_rebuild_equal_replay(
    store_kind: str, commands: list[tuple[Any, ...]], every: int
) -> None:
    with new_store(store_kind) as store:
        app = store.open()
        seed(app)
        timeline = open_timeline(app)
        timeline.every = every
        for command in commands:
            apply(app, command)
            timeline.catch_up()  # incremental, a little at a time
        head = last_position(app)
        for position in range(0, head + 1):
            replayed = (
                Catalog().fold(read_log(app, start=1, stop=position)) if position else Catalog()
            )
            assert timeline.state_at(position).to_data() == replayed.to_data()
        incremental = projection_rows(timeline)
        timeline.rebuild()
        assert projection_rows(timeline) == incremental


@SETTINGS
@given(commands=st.lists(op, min_size=1, max_size=25), channel=st.sampled_from(("release", "beta")))
def test_enacting_pending_changes_makes_live_equal_test(
    store_kind: str, commands: list[tuple[Any, ...]], channel: str
) -> None:
    with replayed(store_kind, commands, enactor=True) as app:
        before = Catalog().fold(read_log(app))
        test, live = derived_view(before, channel), live_view(before, channel)
        touching = {(sc["kind"], sc["sc_id"]) for sc in test.overlays}
        # The overlays are exactly the pending changes that touch the channel.
        for sc in before.pending():
            old = before.rules.get(int(sc["target"])) if sc["kind"] == "rules" else None
            if sc["kind"] == "rules":
                from rulelog.domain.serving.matching import channel_matches

                touches = any(
                    r is not None and channel_matches(r.get("channel"), channel)
                    for r in (old, sc["row"])
                )
                assert touches == ((sc["kind"], sc["sc_id"]) in touching)
        if not touching:
            assert test.content() == live.content()
        for sc in before.pending():
            app.enact_scheduled_change(sc["kind"], sc["sc_id"], "robot")
        after = live_view(Catalog().fold(read_log(app)), channel)
        assert after.content() == test.content()
