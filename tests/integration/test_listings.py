"""The listings' rows (``projections/listings.py``) list exactly what a fold of the log lists.

Over random sequences of rule creates, updates (priorities, aliases, other
fields, edits that change nothing), deletions and enacted scheduled changes,
and of release creates, blob replacements, v2 part writes, read-only switches,
deletions and recreations, on SQLite and PostgreSQL: the rows caught up a
little at a time render the text ``print_json`` prints of
``Catalog.sorted_rules()`` and of the releases' summaries by name, byte for
byte, and a rebuild from the log writes the same rows. Two catch-ups that meet
retry instead of writing twice.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError

from rulelog.domain.errors import RulelogError
from rulelog.projections.at import release_summary
from rulelog.projections.listing_text import listing_bytes
from rulelog.projections.listings import EVENTS_TABLE, RELEASES, RULES, Listing, rows_table
from rulelog.projections.log import read_log
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp
from rulelog.services.release_v2 import ReleasesV2
from rulelog.services.timelines import rebuild_projections, timeline_of
from tests.conftest import Store, new_store
from tests.integration.test_timeline_properties import SETTINGS

RELEASE = "R-1"
#: Priorities with ties, and some beyond a 64-bit integer (Balrog sets no upper bound).
PRIORITIES = st.one_of(st.integers(0, 5), st.sampled_from([100, 2**63 - 1, 2**63, 2**70]))
ALIASES = st.sampled_from([None, "a", "b", "c"])
COMMENTS = st.sampled_from([None, "plain", 'quote " and \\', "tab\tand </end>"])
RULE = st.integers(1, 8)
#: Names whose code-point order is not their numeric or case-blind order.
NAMES = st.sampled_from(["R-2", "R-10", "b-3"])

op = st.one_of(
    st.tuples(st.just("create"), PRIORITIES, ALIASES),
    st.tuples(st.just("priority"), RULE, PRIORITIES),
    st.tuples(st.just("alias"), RULE, ALIASES),
    st.tuples(st.just("comment"), RULE, COMMENTS),
    st.tuples(st.just("nothing"), RULE),
    st.tuples(st.just("delete"), RULE),
    st.tuples(st.just("scheduled"), RULE, PRIORITIES),
    st.tuples(st.just("release"), NAMES, st.sampled_from(["Firefox", "Thunderbird"])),
    st.tuples(st.just("blob"), NAMES, st.integers(1, 4), st.sampled_from([None, "Firefox"])),
    st.tuples(st.just("parts"), NAMES, st.integers(1, 4)),
    st.tuples(st.just("read_only"), NAMES, st.booleans()),
    st.tuples(st.just("delete_release"), NAMES),
)


def blob(name: str, locale: int = 0) -> dict[str, Any]:
    platforms = {PLATFORM: {"locales": {f"l{locale}": BUILD}}} if locale else {}
    return {"name": name, "schema_version": 1, "hashFunction": "sha512", "platforms": platforms}


PLATFORM = "Linux_x86_64-gcc3"
BUILD = {"buildID": "20260101000000", "complete": {"filesize": 1, "from": "*", "hashValue": "a"}}


def seed(app: RulelogApp) -> None:
    app.add_user("a", admin=True, recorded_by="a")
    app.create_release(RELEASE, "Firefox", blob(RELEASE), "a")


def apply_to_release(app: RulelogApp, command: tuple[Any, ...]) -> None:
    """A release command: a deleted release is created again by ``release``."""
    name = command[1]
    if command[0] == "release":
        app.create_release(name, command[2], blob(name), "a")
        return
    release = app.get_release(name)
    if command[0] == "blob":
        app.replace_release_blob(
            name, release.data_version, blob(name, command[2]), "a", command[3]
        )
    elif command[0] == "parts":
        ReleasesV2(app).update(name, blob(name, command[2]), {}, None, "a")
    elif command[0] == "read_only":
        app.set_release_read_only(name, release.data_version, command[2], "a")
    else:
        app.delete_release(name, release.data_version, "a")


def apply(app: RulelogApp, command: tuple[Any, ...]) -> None:
    """Run one command; refusals (a missing rule, an alias taken) are part of the run."""
    name = command[0]
    try:
        if isinstance(command[1], str):
            apply_to_release(app, command)
            return
        if name == "create":
            fields = {"product": "Firefox", "channel": "release", "priority": command[1]}
            fields |= {"backgroundRate": 100, "update_type": "minor", "mapping": RELEASE}
            app.create_rule({**fields, "alias": command[2]}, "a")
            return
        rule = app.get_rule(command[1])
        if name == "delete":
            app.delete_rule(rule.rule_id, rule.data_version, "a")
        elif name == "scheduled":  # enacted at once: the agent's Rule.Updated
            sc = app.schedule_change(
                "rules",
                "update",
                {"rule_id": rule.rule_id, "priority": command[2]},
                {"when": "2100-01-01T00:00:00+00:00"},
                "a",
                data_version=rule.data_version,
            )
            app.enact_scheduled_change("rules", sc.sc_id, "a")
        else:
            changes = {"nothing": {}}.get(name, {name: command[-1]})
            app.update_rule(rule.rule_id, rule.data_version, changes, "a")
    except RulelogError:
        pass


def printed(rows: list[dict[str, Any]]) -> str:
    """What ``print_json`` writes for ``rows``, without its final newline."""
    return json.dumps(rows, indent=2, sort_keys=False, default=str)


def listed(rows: Listing) -> str:
    return b"".join(listing_bytes(rows.encoded())).decode()


def folded(app: RulelogApp) -> tuple[str, str]:
    """What ``rules list --json`` and ``releases list --json`` printed from the fold."""
    catalog = Catalog().fold(read_log(app))
    releases = [release_summary(catalog.releases[n]) for n in sorted(catalog.releases)]
    return printed(catalog.sorted_rules()), printed(releases)


def stored(rows: Listing) -> list[Any]:
    with rows.engine.connect() as conn:
        order = (rows_table.c.kind, rows_table.c.originator)
        return conn.execute(select(rows_table).order_by(*order)).all()


@SETTINGS
@given(commands=st.lists(op, min_size=1, max_size=40), step=st.integers(1, 5))
def test_rows_list_what_the_fold_lists_and_a_rebuild_writes_them_again(
    store_kind: str, commands: list[tuple[Any, ...]], step: int
) -> None:
    with new_store(store_kind) as store:
        app = store.open()
        seed(app)
        rules, releases = Listing.of(app, RULES), Listing.of(app, RELEASES)
        for number, command in enumerate(commands, 1):
            apply(app, command)
            if number % step == 0:  # caught up a few commands at a time
                rules.catch_up(app)
                releases.catch_up(app)
                assert (listed(rules), listed(releases)) == folded(app)
        rules.catch_up(app)
        releases.catch_up(app)
        assert (listed(rules), listed(releases)) == folded(app)
        assert rules.rows() == json.loads(folded(app)[0])
        assert rules.behind() is False and releases.behind() is False
        incremental = stored(rules)  # both kinds'
        rules.rebuild(app)
        releases.rebuild(app)
        assert stored(rules) == incremental
        assert (listed(rules), listed(releases)) == folded(app)
        # ``projections rebuild`` writes them from the timeline's state at the head
        # (a checkpoint, deltas and a short fold): the same rows, bases included.
        timeline = timeline_of(app, every=3)
        position, listings = rebuild_projections(timeline)
        assert listings == {"rules": position, "releases": position}
        assert stored(rules) == incremental
        for _ in range(2):  # and a catch-up goes on from them as from folded rows
            apply(app, commands[0])
        rules.catch_up(app)
        releases.catch_up(app)
        assert (listed(rules), listed(releases)) == folded(app)


def test_replace_writes_a_state_over_stale_rows(store: Store) -> None:
    """Rows changed, deleted, new and unchanged since the stored ones: ``replace``
    writes only what differs, and leaves the rows a fold from zero writes."""
    app = store.open()
    seed(app)
    listings = [Listing.of(app, RULES), Listing.of(app, RELEASES)]
    for command in [("create", 3, None), ("create", 1, None), ("create", 2, None)]:
        apply(app, command)
    apply(app, ("release", "R-2", "Firefox"))
    for listing in listings:
        listing.catch_up(app)
    later = [("alias", 1, "a"), ("delete", 2), ("create", 5, None), ("read_only", "R-2", True)]
    for command in later:
        apply(app, command)
    state = Catalog().fold(read_log(app))
    for listing in listings:
        assert listing.replace(state) == state.position
    assert (listed(listings[0]), listed(listings[1])) == folded(app)
    replaced = stored(listings[0])  # both kinds'
    for listing in listings:
        listing.rebuild(app)
    assert stored(listings[0]) == replaced
    assert [row["rule_id"] for row in listings[0].rows()] == [4, 1, 3]  # by priority


def test_an_empty_store_lists_an_empty_list(store: Store) -> None:
    app = store.open()
    rows = Listing.of(app, RULES)
    rows.catch_up(app)
    assert listed(rows) == printed([]) == "[]"
    assert rows.rows() == []


def test_behind_says_whether_events_came_after_the_rows(store: Store) -> None:
    app = store.open()
    lean = Listing.open(store.url, RULES)
    assert lean.behind() is None  # no rows table yet
    seed(app)
    rows = Listing.of(app, RULES)
    assert lean.behind() is True  # the rows were never caught up
    rows.catch_up(app)
    assert lean.behind() is False
    app.add_user(
        "b", admin=False, recorded_by="a"
    )  # not a rule event: the rows are behind all the same
    assert lean.behind() is True
    rows.catch_up(app)
    assert lean.behind() is False
    lean.engine.dispose()


def test_the_head_check_reads_the_applications_events_table(store: Store) -> None:
    app = store.open()
    assert app.recorder.events_record_cls.__table__.name == EVENTS_TABLE  # type: ignore[attr-defined]


def test_a_catch_up_that_meets_another_retries_and_writes_once(store: Store) -> None:
    app = store.open()
    seed(app)
    mine = Listing.of(app, RULES)
    mine.catch_up(app)
    for priority in (3, 1, 2):
        apply(app, ("create", priority, None))
    apply(app, ("alias", 1, "a"))
    other = Listing(create_engine(store.url), RULES)
    commit = mine._commit
    failures: list[type[BaseException]] = []

    def met(*args: Any) -> int:
        """The other process commits the same events just before this one does."""
        if not failures:
            other.catch_up(app)
            try:
                return commit(*args)
            except IntegrityError as error:
                failures.append(type(error))
                raise
        return commit(*args)

    mine._commit = met  # type: ignore[method-assign]
    mine.catch_up(app)
    assert failures == [IntegrityError]
    expected = printed(Catalog().fold(read_log(app)).sorted_rules())
    assert listed(mine) == listed(other) == expected
    assert json.loads(expected)[0]["alias"] == "a"
    other.engine.dispose()


def test_a_balrog_history_imported_lists_what_the_fold_lists(
    store: Store, balrog: tuple[str, Any, Any]
) -> None:
    """Balrog's whole history imported (a release deleted and created again, one
    read-only, enacted and pending changes): the rows list what the fold lists."""
    from tests.integration.test_import_balrog import run_import

    app = store.open()
    run_import(app, balrog[0])
    rules, releases = Listing.of(app, RULES), Listing.of(app, RELEASES)
    rules.catch_up(app)
    releases.catch_up(app)
    assert (listed(rules), listed(releases)) == folded(app)
    by_name = {row["name"]: row for row in releases.rows()}
    assert by_name["Firefox-119.0-build1"]["data_version"] == 1  # recreated
    assert by_name["Firefox-121.0-build1"]["read_only"] is True
