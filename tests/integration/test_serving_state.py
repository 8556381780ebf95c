"""The serving index folded from the store: equal to the snapshot, and incremental.

An index advanced event by event must equal one built from scratch; rules
are recompiled only when rule events arrive; blobs are cached by (name,
aggregate version) and dropped when their release changes; the follower
brings a running state up to date on its own.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.evaluate import SnapshotView, evaluate
from rulelog.domain.serving.request import RouteNotFound, parse_url
from rulelog.projections.follow import Follower
from rulelog.projections.log import last_position
from rulelog.projections.serving import LiveIndex, ServingState
from rulelog.services.application import RulelogApp
from tests.conftest import DATA

VECTORS = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
RULE_1_URL = VECTORS[0]["url"]


@pytest.fixture
def imported(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    app.import_snapshot(fixture_snapshot, "importer")
    return app


def _answer(url: str, view: Any) -> Any:
    try:
        request = parse_url(url)
    except (RouteNotFound, Invalid) as error:
        return type(error).__name__
    try:
        return evaluate(request, view, rng=lambda: 0)
    except Invalid as error:
        return ("Invalid", str(error))


def _comparable(index: LiveIndex) -> dict[str, Any]:
    return {
        "rules": dict(index.rules_by_id),
        "releases": dict(index.releases),
        "shutoffs": dict(index.shutoffs),
        "pins": dict(index.pins),
        "aliases": dict(index.aliases),
        "position": index.position,
    }


def test_index_answers_like_the_snapshot(imported: RulelogApp, fixture_snapshot: Any) -> None:
    state = ServingState()
    assert state.advance(imported) > 0
    snapshot = SnapshotView.from_snapshot(fixture_snapshot)
    for vector in VECTORS:
        expected = _answer(vector["url"], snapshot)
        assert _answer(vector["url"], state.index) == expected, vector["url"]
        request = None
        try:
            request = parse_url(vector["url"])
        except (RouteNotFound, Invalid):
            continue
        view = state.index.for_request(request)
        if isinstance(expected, tuple):
            with pytest.raises(Invalid):
                evaluate(request, view, rng=lambda: 0)
        else:
            assert evaluate(request, view, rng=lambda: 0) == expected
        assert not view.missing  # everything was loaded by the blocking lookups above


def test_incremental_equals_from_scratch(imported: RulelogApp, fixture_snapshot: Any) -> None:
    follower_state = ServingState()
    follower_state.advance(imported)
    release = imported.get_release("Firefox-121.0-build1")
    blob = copy.deepcopy(release.blob)
    blob["displayVersion"] = "121.0 (changed)"
    steps = [
        lambda: imported.update_rule(1, 1, {"priority": 91}, "alice"),
        lambda: imported.create_shutoff("Firefox", "nightly", "alice", comment="stop"),
        lambda: imported.replace_release_blob("Firefox-121.0-build1", 1, blob, "alice"),
        lambda: imported.delete_rule(9, 1, "alice"),
        lambda: imported.create_pin("Firefox", "beta", "122.", "Firefox-122.0b3-build1", "alice"),
        lambda: imported.delete_shutoff("GMP", "esr", 1, "alice"),
    ]
    for step in steps:
        step()
        follower_state.advance(imported)
        scratch = ServingState()
        scratch.advance(imported)
        assert _comparable(follower_state.index) == _comparable(scratch.index)
        for vector in VECTORS:
            url = vector["url"]
            assert _answer(url, follower_state.index) == _answer(url, scratch.index), url


def test_rules_recompiled_only_when_rules_change(imported: RulelogApp) -> None:
    state = ServingState()
    state.advance(imported)
    before = state.index
    imported.create_shutoff("Firefox", "aurora", "alice")
    assert state.advance(imported) > 0
    assert state.index.rule_table is before.rule_table
    assert state.index.shutoffs != before.shutoffs
    assert state.index.position > before.position
    imported.update_rule(2, 1, {"comment": "touched"}, "alice")
    state.advance(imported)
    assert state.index.rule_table is not before.rule_table
    assert state.index.rules_by_id[2]["data_version"] == 2
    assert state.advance(imported) == 0  # nothing new: nothing folded


def test_a_rule_edit_compiles_that_rule_alone(imported: RulelogApp) -> None:
    state = ServingState()
    state.advance(imported)
    before = state.index
    imported.update_rule(2, 1, {"comment": "touched"}, "alice")
    state.advance(imported)
    rows = state.index.rules_by_id
    assert rows[2] is not before.rules_by_id[2] and rows[2]["comment"] == "touched"
    assert all(rows[r] is before.rules_by_id[r] for r in rows if r != 2)
    compiled = {r.rule_id: r for r in state.index.rule_table.candidates("Firefox")}
    earlier = {r.rule_id: r for r in before.rule_table.candidates("Firefox")}
    assert compiled[2].rule is rows[2]
    assert all(compiled[r] is earlier[r] for r in compiled if r != 2)


def test_blobs_cached_by_version_and_dropped_when_changed(imported: RulelogApp) -> None:
    state = ServingState()
    state.advance(imported)
    name = "Firefox-121.0-build1"
    old_version = state.index.releases[name]["version"]
    state.index.release(name)
    assert state.index.blobs.get(name, old_version) is not None
    blob = copy.deepcopy(imported.get_release(name).blob)
    blob["displayVersion"] = "121.0 (changed)"
    imported.replace_release_blob(name, 1, blob, "alice")
    state.advance(imported)
    new_version = state.index.releases[name]["version"]
    assert new_version > old_version
    assert state.index.blobs.get(name, old_version) is None
    assert state.index.release(name)["displayVersion"] == "121.0 (changed)"


def test_warming_loads_mapped_blobs_a_step_at_a_time_within_the_bound(
    imported: RulelogApp,
) -> None:
    state = ServingState(blob_limit=3)
    state.advance(imported)
    mapped = state.index.mapped_releases()
    assert len(mapped) > 3
    assert state.warm(2) == 2 and len(state.blobs) == 2
    assert state.warm(2) == 1 and state.blobs.full  # stops at the bound
    assert state.warm(2) == 0 and len(state.blobs) == 3
    for name in list(mapped)[:5]:  # a blob beyond the bound is still served
        assert state.index.release(name)["name"] == name
    assert len(state.blobs) == 3


def test_request_view_reports_missing_blobs(imported: RulelogApp) -> None:
    state = ServingState()
    state.advance(imported)
    request = parse_url(RULE_1_URL)
    view = state.index.for_request(request)
    first = evaluate(request, view, rng=lambda: 0)
    assert view.missing and first.problem  # nothing loaded yet: the evaluation is void
    state.index.load_missing(view.missing)
    for _ in range(5):
        view = state.index.for_request(request)
        answer = evaluate(request, view, rng=lambda: 0)
        if not view.missing:
            break
        state.index.load_missing(view.missing)
    assert not view.missing
    assert answer.body == VECTORS[0]["body"]


def test_follower_keeps_the_state_current(imported: RulelogApp) -> None:
    state = ServingState()
    follower = Follower(lambda: imported, state, interval=0.05)
    follower.start()
    try:
        imported.update_rule(1, 1, {"comment": "followed"}, "alice")
        target = last_position(imported)
        deadline = time.monotonic() + 5
        while state.index.position < target and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting on a condition with a deadline
        assert state.index.position >= target
        assert state.index.rules_by_id[1]["comment"] == "followed"
        assert state.revisions.of(1)[0]["comment"] == "followed"
    finally:
        follower.stop()


def test_follower_survives_a_failing_store() -> None:
    calls = {"n": 0}

    def broken() -> Any:
        calls["n"] += 1
        raise ConnectionError("store down")

    follower = Follower(broken, ServingState(), interval=0.01, max_backoff=0.02)
    with pytest.raises(ConnectionError):
        follower.poll_once()
    follower.start()
    deadline = time.monotonic() + 5
    while follower.failures < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    follower.stop()
    assert follower.failures >= 3


def test_the_follower_asks_for_a_reader_once_per_store(imported: RulelogApp) -> None:
    made: list[Any] = []

    def read(app: Any) -> Any:
        made.append(app)
        return None  # no faster reader: the state reads the log itself

    state = ServingState()
    follower = Follower(lambda: imported, state, read=read)
    follower.poll_once()
    imported.update_rule(1, 1, {"comment": "followed"}, "alice")
    follower.poll_once()
    follower.poll_once()
    assert made == [imported]
    assert state.index.rules_by_id[1]["comment"] == "followed"
