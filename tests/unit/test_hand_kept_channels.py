"""Hand-kept test channels, decided and served without a store.

A test channel that live rules name on their own is answered exactly as Balrog
answers it; the suffix convention derives only the others; a mapping derives
whatever the rules say. Balrog's answer is ``SnapshotView``'s (plain matching
over every rule), which the recorded vectors hold to Balrog.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.catalog.channels import names_on_its_own
from rulelog.projections.state import Catalog
from rulelog.projections.views import (
    all_test_channels,
    as_test_channel,
    derived_channels_of,
    derived_from,
    view_of,
)
from tests.hand_kept_support import (
    DERIVED,
    HAND_KEPT,
    answer,
    catalog_of,
    hand_kept_snapshot,
    index_of,
    oracle,
    urls,
)

SNAPSHOT = hand_kept_snapshot()
BLOBS = {r["name"]: r["data"] for r in SNAPSHOT["releases"]}


@pytest.mark.parametrize(
    ("channel", "test", "live", "names"),
    [
        ("release-cdntest", "release-cdntest", "release", True),
        ("release-cdn*", "release-cdntest", "release", True),
        ("release-*", "release-localtest", "release", True),
        ("release-cdntest*", "release-cdntest", "release", True),
        ("esr-localtest", "esr-localtest", "esr", True),
        ("release*", "release-cdntest", "release", False),  # the live channel's too
        ("rel*", "release-localtest", "release", False),
        ("release", "release-cdntest", "release", False),
        (None, "release-cdntest", "release", False),  # channel-less rules match any
        ("*test", "release-cdntest", "release", False),  # only a trailing * globs
        ("*", "release-cdntest", "release", False),  # too short to glob: matches nothing
        ("release-[*", "release-cdntest", "release", False),  # Balrog fails on it
        ("release-localtest", "release-cdntest", "release", False),
        ("beta-cdntest", "release-cdntest", "release", False),
    ],
)
def test_which_rule_channels_name_a_test_channel_on_their_own(
    channel: str | None, test: str, live: str, names: bool
) -> None:
    assert names_on_its_own(channel, test, live) is names


def test_the_decision_follows_the_rules() -> None:
    state = catalog_of(SNAPSHOT)
    for channel, rules in HAND_KEPT.items():
        found = as_test_channel(state, channel)
        assert found is not None and found.kept_by == rules and found.mode == "hand-kept"
        assert derived_from(state, channel) is None
        assert view_of(state, channel).live_channel == channel  # answered as itself
    for channel in DERIVED:
        found = as_test_channel(state, channel)
        assert found is not None and found.derived and found.kept_by == ()
        assert derived_from(state, channel) == channel.split("-")[0]
    assert as_test_channel(state, "release") is None
    assert as_test_channel(state, "*test") is None
    assert derived_channels_of(state, "release") == ["release-localtest"]
    assert derived_channels_of(state, "esr") == ["esr-cdntest"]


def test_a_mapping_derives_a_hand_kept_channel() -> None:
    state = catalog_of(SNAPSHOT)
    state.test_channels["release-cdntest"] = "release"
    found = as_test_channel(state, "release-cdntest")
    assert found is not None and found.mapped and found.derived and found.kept_by == (80, 81)
    assert derived_from(state, "release-cdntest") == "release"
    assert derived_channels_of(state, "release") == ["release-cdntest", "release-localtest"]


def test_every_test_channel_is_listed_with_its_mode() -> None:
    state = catalog_of(SNAPSHOT)
    state.test_channels["release-qa"] = "release"
    rows = {t.channel: t.as_row() for t in all_test_channels(state)}
    assert rows["release-cdntest"] == {
        "channel": "release-cdntest",
        "live_channel": "release",
        "mode": "hand-kept",
        "mapped": False,
        "hand_kept_by": [80, 81],
    }
    assert rows["esr-localtest"]["hand_kept_by"] == [82]
    assert rows["release-qa"]["mode"] == "derived" and rows["release-qa"]["mapped"]
    assert rows["release-localtest"]["mode"] == "derived"
    # Suffix candidates of the channels rules name; globs and test channels get none.
    assert {"nightly-cdntest", "beta-localtest", "esr-cdntest"} <= set(rows)
    assert not any(c.startswith(("release*", "*test", "release-cdntest-")) for c in rows)


def test_hand_kept_channels_are_answered_as_balrog_answers_them() -> None:
    state = catalog_of(SNAPSHOT)
    index, balrog = index_of(state, BLOBS), oracle(state, BLOBS)
    for url in urls(HAND_KEPT):
        assert answer(url, index) == answer(url, balrog), url


def test_the_rules_that_keep_a_channel_change_its_answers() -> None:
    """Derived, the same channels answer otherwise: the test is not vacuous."""
    state = catalog_of(SNAPSHOT)
    balrog = oracle(state, BLOBS)
    state.test_channels.update({c: c.split("-")[0] for c in HAND_KEPT})
    derived = index_of(state, BLOBS)
    differ = [u for u in urls(HAND_KEPT) if answer(u, derived) != answer(u, balrog)]
    assert len(differ) >= 8


def test_a_derived_test_channel_without_pending_changes_answers_as_its_live_channel() -> None:
    state = catalog_of(SNAPSHOT)
    index = index_of(state, BLOBS)
    for test in DERIVED:
        live = test.split("-")[0]
        for url in urls([test]):
            got, live_answer = (
                answer(url, index),
                answer(url.replace(f"/{test}/", f"/{live}/"), index),
            )
            assert isinstance(got, tuple) and isinstance(live_answer, tuple)
            assert got[:2] == live_answer[:2], url


# ------------------------------------------------------------------ properties

CHANNELS = [
    None,
    "release",
    "release*",
    "release-cdntest",
    "release-localtest",
    "release-cdn*",
    "release-*",
    "*test",
    "rel*",
    "beta",
    "beta-cdn*",
    "esr-localtest",
]
MAPPINGS = ["Firefox-121.0-build1", "Firefox-120.0-build1", "Thunderbird-115.6.0-build1", None]
TEST_CHANNELS = ["release-cdntest", "release-localtest", "beta-cdntest", "esr-localtest"]

rule_rows = st.lists(
    st.fixed_dictionaries(
        {
            "product": st.sampled_from(["Firefox", "Thunderbird", None]),
            "channel": st.sampled_from(CHANNELS),
            "priority": st.integers(0, 50),
            "mapping": st.sampled_from(MAPPINGS),
            "version": st.sampled_from([None, "<116.0", ">=116.0"]),
        }
    ),
    max_size=10,
)


def _state(rows: list[dict[str, Any]]) -> Catalog:
    rules = [
        {**r, "rule_id": i, "backgroundRate": 100, "update_type": "minor"}
        for i, r in enumerate(rows, start=1)
    ]
    return catalog_of({**SNAPSHOT, "rules": rules, "emergency_shutoffs": []})


@given(rule_rows)
def test_a_hand_kept_channel_always_answers_as_balrog(rows: list[dict[str, Any]]) -> None:
    state = _state(rows)
    index, balrog = index_of(state, BLOBS), oracle(state, BLOBS)
    for channel in TEST_CHANNELS:
        found = as_test_channel(state, channel)
        assert found is not None
        assert found.derived == (
            not any(names_on_its_own(r["channel"], channel, found.live) for r in rows)
        )
        if not found.derived:
            for url in urls([channel])[::3]:
                assert answer(url, index) == answer(url, balrog), url


@given(rule_rows)
def test_without_hand_kept_rules_every_test_channel_is_derived_as_before(
    rows: list[dict[str, Any]],
) -> None:
    kept = {
        "release-cdntest",
        "release-localtest",
        "release-cdn*",
        "release-*",
        "beta-cdn*",
        "esr-localtest",
    }
    state = _state([r for r in rows if r["channel"] not in kept])
    index = index_of(state, BLOBS)
    for channel in TEST_CHANNELS:
        live = channel.split("-")[0]
        assert derived_from(state, channel) == live
        # What the suffix convention always served: the live channel's derived view.
        before = dataclasses.replace(index, tests={})._derived(live, channel)
        for url in urls([channel])[::3]:
            assert answer(url, index) == answer(url, before), url
