"""Cached update answers are never stale: a property over random change sequences.

Two public apps follow one store: one caches answers per index generation,
the other caches nothing. Before each change the cached app has answered
every URL (so its cache is full); after the change both fold the log and
must give byte-identical answers and headers (request ids aside) -- for
every kind of change that can affect an answer: rules, releases, shutoffs,
pins, test-channel mappings and scheduled changes that test channels show.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulelog.api.public import PublicSettings, create_public_app
from rulelog.api.public.front import RolledAnswer
from rulelog.domain.errors import RulelogError
from rulelog.domain.serving import evaluate
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp
from tests.conftest import DATA, new_store
from tests.integration.public_driver import Driver

WHEN = {"when": (datetime.now(UTC) + timedelta(days=365)).isoformat()}
TEST_CHANNEL = "release-qa"


def _urls() -> list[str]:
    """Vectors of every (api, product, channel) seen, and their test-channel twins."""
    vectors = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
    picked: dict[tuple[str, ...], str] = {}
    for v in vectors:
        url = v["url"]
        if v["status"] != 200 or not url.startswith(("/update/", "/json/")):
            continue
        parts = url.split("?")[0].split("/")
        picked.setdefault((parts[1], parts[3], (url.count("/release/") and "r") or ""), url)
    urls = list(picked.values())
    twins = [
        u.replace("/release/", f"/{c}/") for u in urls for c in ("release-cdntest", TEST_CHANNEL)
    ]
    return urls + [t for t in twins if t not in urls]


URLS = _urls()
HOT_RULES = sorted(
    {
        int(v["rule_id"])
        for v in map(json.loads, (DATA / "expected.jsonl").read_text().splitlines())
        if v["url"] in URLS and str(v.get("rule_id", "")).isdigit()
    }
)


@contextmanager
def serving(app: RulelogApp, fixture_snapshot: dict[str, Any]) -> Iterator[tuple[Driver, Driver]]:
    """The fixture imported into ``app``, and two apps over it: cached, uncached."""
    app.import_snapshot(fixture_snapshot, "importer")
    made = []
    for entries in (20_000, 0):
        web = create_public_app(
            settings=PublicSettings(follow=False, answer_cache=entries), store=app
        )
        web.state.server.start()
        made.append(Driver(web))
    try:
        yield made[0], made[1]
    finally:
        for driver in made:
            driver.server.stop()
            driver.app.request_log.close()
            driver.loop.close()


@pytest.fixture(autouse=True)
def fixed_dice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both apps roll the same dice, so answers of throttled rules compare too."""
    monkeypatch.setattr(evaluate, "_default_dice", lambda: 42)


# --------------------------------------------------------------------- changes

Change = Callable[[RulelogApp, st.DataObject], None]


def _catalog(app: RulelogApp) -> Catalog:
    return Catalog().fold(read_log(app))


def _pick(data: st.DataObject, choices: list[Any]) -> Any:
    """One of ``choices``, drawn the same way whatever their number (hypothesis replays)."""
    return choices[data.draw(st.integers(0, 999)) % len(choices)]


def _rule(app: RulelogApp, data: st.DataObject) -> Any:
    """A live rule; half the time one that answers some of ``URLS`` (where a stale
    cached answer would show)."""
    live = sorted(_catalog(app).rules)
    hot = [r for r in HOT_RULES if r in live]
    return app.get_rule(_pick(data, hot if hot and data.draw(st.booleans()) else live))


def _releases(app: RulelogApp) -> list[str]:
    return sorted(_catalog(app).releases)


def edit_rule(app: RulelogApp, data: st.DataObject) -> None:
    rule = _rule(app, data)
    field, value = data.draw(
        st.sampled_from(
            [
                ("priority", 1),
                ("priority", 1000),
                ("backgroundRate", 0),
                ("backgroundRate", 100),
                ("channel", "beta"),
                ("channel", "release*"),
                ("channel", "release-cdntest"),  # hand-kept from now on
                ("version", "<1.0"),
                ("locale", "de"),
                ("mapping", "__release__"),
                ("comment", "edited"),
                ("fallbackMapping", "__release__"),
            ]
        )
    )
    if value == "__release__":
        value = _pick(data, _releases(app))
    app.update_rule(rule.rule_id, rule.data_version, {field: value}, "alice")


def edit_comment(app: RulelogApp, data: st.DataObject) -> None:
    """A comment: the answers the rule topped keep their bodies, not their headers."""
    rule = _rule(app, data)
    app.update_rule(rule.rule_id, rule.data_version, {"comment": f"c{rule.data_version}"}, "alice")


def edits_in_one_generation(app: RulelogApp, data: st.DataObject) -> None:
    """Comments and other changes that the apps fold together, in either order, on the
    same rule or others: what a relabelling must not survive."""
    for _ in range(data.draw(st.integers(2, 4))):
        change = data.draw(st.sampled_from([edit_comment, edit_comment, edit_rule, delete_rule]))
        try:
            change(app, data)
        except RulelogError:
            continue


def delete_rule(app: RulelogApp, data: st.DataObject) -> None:
    rule = _rule(app, data)
    app.delete_rule(rule.rule_id, rule.data_version, "alice")


def add_rule(app: RulelogApp, data: st.DataObject) -> None:
    rule = _rule(app, data)
    fields = {k: v for k, v in rule.as_balrog().items() if k not in ("rule_id", "data_version")}
    app.create_rule({**fields, "alias": None, "priority": 10_000}, "alice")


def edit_release(app: RulelogApp, data: st.DataObject) -> None:
    release = app.get_release(_pick(data, _releases(app)))
    blob = copy.deepcopy(release.blob)
    key = next((k for k in ("displayVersion", "appVersion", "hashFunction") if k in blob), None)
    if key is None:
        return
    blob[key] = "sha256" if key == "hashFunction" else f"{blob[key]}.1"
    app.replace_release_blob(release.name, release.data_version, blob, "alice")


SHUTOFFS = [("Firefox", "release"), ("Firefox", "beta"), ("Thunderbird", "release")]


def toggle_shutoff(app: RulelogApp, data: st.DataObject) -> None:
    product, channel = data.draw(st.sampled_from(SHUTOFFS))
    try:
        shutoff = app.get_shutoff(product, channel)
    except RulelogError:
        app.create_shutoff(product, channel, "alice")
    else:
        app.delete_shutoff(product, channel, shutoff.data_version, "alice")


def toggle_pin(app: RulelogApp, data: st.DataObject) -> None:
    try:
        pin = app.get_pin("Firefox", "release", "120.")
    except RulelogError:
        firefox = [n for n in _releases(app) if n.startswith("Firefox-")]
        app.create_pin("Firefox", "release", "120.", _pick(data, firefox), "alice")
    else:
        app.delete_pin("Firefox", "release", "120.", pin.data_version, "alice")


def toggle_mapping(app: RulelogApp, data: st.DataObject) -> None:
    if TEST_CHANNEL in app.channel_map().tests:
        app.unmap_test_channel(TEST_CHANNEL, "alice")
    else:
        app.map_test_channel("release", TEST_CHANNEL, "alice")


def schedule_rule_change(app: RulelogApp, data: st.DataObject) -> None:
    rule = _rule(app, data)
    change = data.draw(st.sampled_from([{"priority": 5000}, {"channel": "beta"}, {"locale": "fr"}]))
    row = {**change, "rule_id": rule.rule_id}
    app.schedule_change("rules", "update", row, WHEN, "alice", data_version=rule.data_version)


def schedule_release_change(app: RulelogApp, data: st.DataObject) -> None:
    release = app.get_release(_pick(data, _releases(app)))
    blob = copy.deepcopy(release.blob)
    if "displayVersion" not in blob:
        return
    blob["displayVersion"] = "respin"
    row = {"name": release.name, "data": blob}
    app.schedule_change("releases", "update", row, WHEN, "alice", data_version=release.data_version)


CHANGES: list[Change] = [
    edit_rule,
    edit_comment,
    edits_in_one_generation,
    delete_rule,
    add_rule,
    edit_release,
    toggle_shutoff,
    toggle_pin,
    toggle_mapping,
    schedule_rule_change,
    schedule_release_change,
]


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cached_answers_equal_uncached_after_every_change(
    store_kind: str, fixture_snapshot: dict[str, Any], data: st.DataObject
) -> None:
    changes = data.draw(st.lists(st.sampled_from(CHANGES), min_size=1, max_size=5))
    with new_store(store_kind) as store:
        app = store.open_with_admins()
        with serving(app, fixture_snapshot) as (cached, uncached):
            cached.answers(URLS)  # every answer cached before the first change
            for change in changes:
                try:
                    change(app, data)
                except RulelogError:
                    continue  # refused (e.g. by a validator): nothing stored
                expected = uncached.answers(URLS)
                for _ in range(2):  # as evaluated after the change, then as cached
                    assert cached.answers(URLS) == expected, change.__name__


def test_a_rule_edit_drops_only_the_answers_it_can_change(
    app: RulelogApp, fixture_snapshot: dict[str, Any]
) -> None:
    with serving(app, fixture_snapshot) as (cached, uncached):
        cached.answers(URLS)
        front, state = cached.app, cached.server.state
        answers = front.cache_for(state.index)._answers
        before = len(answers)
        assert before > len(URLS) // 2
        app.grant_permission("robot", "rule", {"products": ["Firefox"]}, "alice")
        cached.server.follower.poll_once()  # a new generation that serves nothing new
        answers = front.cache_for(state.index)._answers
        assert len(answers) == before
        rule_id = next(iter(a.rules for a in answers.values() if a.products == {"Thunderbird"}))
        (rule_id,) = rule_id
        rule = app.get_rule(rule_id)
        gave = [k for k, a in answers.items() if rule_id in a.rules]
        # Its comment: the answers it topped in the live index are kept, to be served
        # with their Rule-Data-Version rewritten; those of derived test channels dropped.
        app.update_rule(rule_id, rule.data_version, {"comment": "moved"}, "alice")
        cached.server.follower.poll_once()
        answers = front.cache_for(state.index)._answers
        kept = [answers[k] for k in gave if k in answers]
        assert kept and len(kept) < len(gave) and len(answers) == before - len(gave) + len(kept)
        assert all(a.top_rule == rule_id for a in kept)
        version = str(rule.data_version + 1).encode()
        assert front.cache_for(state.index).labels == {rule_id: version}
        assert cached.answers(URLS) == uncached.answers(URLS)
        answers = front.cache_for(state.index)._answers
        assert all((b"rule-data-version", version) in answers[k].head for k in gave)
        # Its priority: every answer for its product may change.
        app.update_rule(rule_id, rule.data_version + 1, {"priority": 1}, "alice")
        cached.server.follower.poll_once()
        answers = front.cache_for(state.index)._answers
        assert answers and all("Thunderbird" not in a.products for a in answers.values())
        app.create_shutoff("Firefox", "beta", "alice")  # not a rule edit: nothing kept
        cached.server.follower.poll_once()
        assert len(front.cache_for(state.index)) == 0


@pytest.mark.parametrize("then", [{"backgroundRate": 100}, {"priority": 1}, {"comment": "again"}])
def test_answers_of_a_relabelled_rule_stay_exact_through_later_edits(
    app: RulelogApp, fixture_snapshot: dict[str, Any], then: dict[str, Any]
) -> None:
    """A rule's comment edited (its answers kept, relabelled when served), then the rule
    edited again in a later generation: the labels the cache keeps follow every edit."""
    with serving(app, fixture_snapshot) as (cached, uncached):
        cached.answers(URLS)
        answers = cached.app.cache_for(cached.server.state.index)._answers
        tops = [a.top_rule for a in answers.values() if a.top_rule is not None]
        rule_id = max(set(tops), key=tops.count)
        for edit in ({"comment": "first"}, then, {"comment": "last"}, then):
            rule = app.get_rule(rule_id)
            app.update_rule(rule_id, rule.data_version, edit, "alice")
            expected = uncached.answers(URLS)
            for _ in range(2):  # evaluated once, then from the cache
                assert cached.answers(URLS) == expected, edit


#: Requests rule 1 answers (Firefox release, backgroundRate 50: above the roll, its
#: mapping; else its fallback), and their twins on the derived test channel.
THROTTLED = [
    f"/update/6/Firefox/{version}/20230418085625/{target}/en-US/{channel}/{os}"
    "/ISET:SSE4_1,MEM:57817/default/default/update.xml"
    for version, target, os in (
        ("118.0", "WINNT_x86-msvc-x86", "Windows_NT%2010.0.0.0.21025.2124%20(x86)"),
        ("120.0", "Darwin_x86_64-gcc3-u-i386-x86_64", "Darwin%2023.1.0"),
    )
    for channel in ("release", "release-cdntest")
]


def test_a_throttled_answer_is_cached_per_side_of_its_rate(
    app: RulelogApp, fixture_snapshot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer that rolled the dice is kept for the side of the rate its roll fell on:
    each request still rolls once, as an evaluation does, and gets what an evaluation
    gives for that roll."""
    rolled: list[int] = []
    with serving(app, fixture_snapshot) as (cached, uncached):
        for warm in (cached, uncached):  # blobs loaded (a first load evaluates twice)
            warm.server.state.warm(1000)
        for roll in (0, 99, 49, 50, 1, 98):  # each side evaluated once, then from the cache
            monkeypatch.setattr(evaluate, "_default_dice", lambda r=roll: rolled.append(r) or r)
            for url in THROTTLED:
                rolled.clear()
                answer = cached.get(url)
                rolls = len(rolled)
                rolled.clear()
                assert answer == uncached.get(url), (url, roll)
                assert rolls == len(rolled) == 1, (url, roll)
        kept = cached.app.cache_for(cached.server.state.index)._answers
        entries = [kept[url.encode() + b"?"] for url in THROTTLED]
        assert all(isinstance(e, RolledAnswer) and e.below and e.above for e in entries)
        assert any(e.below.body != e.above.body for e in entries)  # type: ignore[union-attr]
