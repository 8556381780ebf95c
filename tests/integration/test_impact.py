"""Traffic impact on SQLite and PostgreSQL: sampled requests replayed before and after a
change, for scheduled changes and for proposed ones, and what the sample keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect

from rulelog.domain.errors import Invalid, NotFound
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp
from rulelog.services.impact import proposed_impact, record_sample, sample_of, scheduled_impact

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LATER = (T0 + timedelta(hours=1)).isoformat()
LOCALES = ("de", "fr", "en-US", "ja")


def target(locale: str, channel: str = "release", version: str = "119.0") -> str:
    """A Linux request built after rule 14's cut-off: rule 1 answers it on release."""
    return (
        f"/update/6/Firefox/{version}/20231120000000/Linux_x86_64-gcc3/{locale}/{channel}/"
        "Linux/default/default/default/update.xml"
    )


#: Five requests per locale on release, three per locale on beta.
SAMPLE = [target(loc) for loc in LOCALES for _ in range(5)] + [
    target(loc, "beta", "121.0") for loc in LOCALES for _ in range(3)
]


@pytest.fixture
def im(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> RulelogApp:
    app.now = lambda: T0  # type: ignore[method-assign]
    app.import_snapshot(fixture_snapshot, changed_by="importer")
    record_sample(app, SAMPLE, keep=1000)
    return app


def state(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def german_rule(**changes: Any) -> dict[str, Any]:
    """Rule 1 for German only, one step above it, serving 120.0 instead."""
    rule = {
        "product": "Firefox",
        "channel": "release",
        "locale": "de",
        "priority": 91,
        "mapping": "Firefox-120.0-build1",
        "backgroundRate": 100,
        "update_type": "minor",
    }
    return {**rule, **changes}


def test_a_change_for_one_locale_moves_exactly_that_locale(im: RulelogApp) -> None:
    sc = im.schedule_change("rules", "insert", german_rule(), {"when": LATER}, "alice")
    found = scheduled_impact(im, state(im), "rules", sc.sc_id)
    assert found["replayed"] == len(SAMPLE) and found["unreadable"] == 0
    assert found["moved"] == 5
    [move] = found["moves"]
    assert (move["from"], move["to"], move["requests"]) == (
        "Firefox-121.0-build1",
        "Firefox-120.0-build1",
        5,
    )
    assert move["examples"] == [target("de")] * 3
    assert found["by"]["locale"] == {"de": 5}
    assert found["by"]["product"] == {"Firefox": 5}


def test_a_change_on_another_channel_moves_nothing(im: RulelogApp) -> None:
    nightly = german_rule(channel="nightly", mapping="Firefox-mozilla-central-nightly-latest")
    sc = im.schedule_change("rules", "insert", nightly, {"when": LATER}, "alice")
    found = scheduled_impact(im, state(im), "rules", sc.sc_id)
    assert (found["replayed"], found["moved"], found["moves"]) == (len(SAMPLE), 0, [])


def test_a_proposed_change_is_validated_and_replayed_without_being_saved(
    im: RulelogApp,
) -> None:
    before = im.recorder.max_notification_id()
    found = proposed_impact(im, state(im), "rules", "insert", german_rule(locale="fr"))
    assert found["moved"] == 5 and found["by"]["locale"] == {"fr": 5}
    # Deleting rule 1 leaves these release requests without an update, except Japanese
    # ones, which rule 12 (above it) answers; beta requests never move.
    gone = proposed_impact(im, state(im), "rules", "delete", {"rule_id": 1})
    assert gone["by"]["locale"] == {"de": 5, "fr": 5, "en-US": 5}
    assert [(m["from"], m["to"]) for m in gone["moves"]] == [("Firefox-121.0-build1", "no update")]
    with pytest.raises(Invalid):
        proposed_impact(im, state(im), "rules", "insert", german_rule(backgroundRate=101))
    assert im.recorder.max_notification_id() == before


def test_only_answering_pending_changes_are_replayed(im: RulelogApp) -> None:
    with pytest.raises(NotFound):
        scheduled_impact(im, state(im), "rules", 999)
    with pytest.raises(Invalid):
        scheduled_impact(im, state(im), "permissions", 1)
    sc = im.schedule_change("rules", "insert", german_rule(), {"when": LATER}, "alice")
    im.cancel_scheduled_change("rules", sc.sc_id, sc.data_version, "alice")
    with pytest.raises(NotFound):  # a cancelled change is no longer in the live state
        scheduled_impact(im, state(im), "rules", sc.sc_id)


def test_the_sample_keeps_only_request_targets_and_only_the_newest(im: RulelogApp) -> None:
    sample = sample_of(im)
    columns = {c["name"] for c in inspect(sample.engine).get_columns("rulelog_request_sample")}
    assert columns == {"id", "taken_ms", "target"}
    assert sorted(sample.targets()) == sorted(SAMPLE)
    record_sample(im, [target("it")] * 3, keep=10)
    kept = sample.targets()
    assert sample.count() == 10 and kept[:3] == [target("it")] * 3


def test_a_scheduled_shutoff_moves_its_channel_to_no_update(im: RulelogApp) -> None:
    shutoff = {"product": "Firefox", "channel": "beta", "comment": "stop"}
    sc = im.schedule_change("emergency_shutoff", "insert", shutoff, {"when": LATER}, "alice")
    found = scheduled_impact(im, state(im), "emergency_shutoff", sc.sc_id)
    assert found["moved"] == 3 * len(LOCALES)
    assert {m["to"] for m in found["moves"]} == {"no update"}
    assert found["by"]["version"] == {"121.0": 3 * len(LOCALES)}
