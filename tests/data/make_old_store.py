"""Write a small SQLite rulelog store holding every kind of object, with history.

    .venv/bin/python -m tests.data.make_old_store tests/data/store-v0.1.db

``tests/data/store-v0.1.db`` was made by this script at commit e6b4c23 of
main, before the modules moved into the ``rulelog`` package; it is kept as
written so that ``tests/integration/test_old_store.py`` proves stores written
then still open (stored topics are the fixed ``TOPIC`` strings, not module
paths). Do not regenerate it after the move: it would then prove nothing.

How it is made, with the code's own commands only:

1. the Balrog history of ``tests.balrog.scenarios`` (every Balrog table,
   release history included) is imported with ``import_balrog``, then one more
   Balrog change is caught up with ``--since-last`` (the import marks);
2. through ``RulelogApp`` (as the CLI and the admin API call it): API tokens
   (one revoked), channel mappings (one unmapped), a shutoff and a pin created
   again after their deletion, a direct edit merged into a pending change, a
   v1 blob replacement, a release created and deleted, a release written in
   v2 parts, a role granted, uptake reports, expectations (added, changed,
   removed, added again), and scheduled changes of every kind, signed off,
   then enacted, cancelled or left pending (one signoff overriding a failing
   expectation);
3. the timeline (positions and checkpoints, every 50 events) is brought up
   to date, and the SQLite file is checkpointed and closed (no -wal/-shm left).

Deterministic where the code allows: event times come from a fixed clock
(one second per event from 2023-11-15, after the Balrog history of
2023-11-14), ``app.now`` reads the same clock, and the API tokens' secrets are
derived from their labels, so the test can present them. The Balrog import's
own events keep Balrog's times. What still differs between two runs: the
import record's ``source`` (a temporary folder) and ``seconds``, and the
SQLite file's page layout.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import eventsourcing.domain

from rulelog.adapters.balrog_source import BalrogSource
from rulelog.api.config import open_app, open_timeline
from rulelog.services import tokens as token_commands
from rulelog.services.application import RulelogApp
from rulelog.services.balrog_import import import_balrog
from rulelog.services.release_v2 import ReleasesV2
from tests.balrog.scenarios import blob, build_full_history, rule
from tests.balrog.writer import BalrogWriter, create_balrog_db

#: The first time the fixed clock gives (the Balrog history ends 2023-11-14T22:14).
CLOCK_START = datetime(2023, 11, 15, tzinfo=UTC)
#: Checkpoints every this many events, so the store holds some to decode.
CHECKPOINT_EVERY = "50"
#: Far enough ahead that the changes left pending are not due when made.
LATER = "2024-06-01T00:00:00+00:00"
NIGHTLY = "Firefox-mozilla-central-nightly-latest"
NIGHTLY_PLATFORM = "Linux_x86_64-gcc3"
#: (owner, label, revoked) of each API token issued; see ``token_for``.
TOKENS = (("bob", "laptop", False), ("alice", "old laptop", True))


def token_for(label: str) -> tuple[str, str]:
    """The ``(token_id, token)`` issued for ``label``: fixed, so tests can present it."""
    token_id = hashlib.sha256(f"id:{label}".encode()).hexdigest()[:16]
    secret = base64.urlsafe_b64encode(hashlib.sha256(f"secret:{label}".encode()).digest())
    return token_id, f"rlt_{token_id}_{secret.decode().rstrip('=')}"


class Clock:
    """One second per event created, from ``CLOCK_START``; ``now`` reads without moving."""

    def __init__(self) -> None:
        self.moment = CLOCK_START

    def tick(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment

    def now(self) -> datetime:
        return self.moment


@contextmanager
def fixed_clock_and_tokens(clock: Clock) -> Iterator[None]:
    """Event times from ``clock`` and token secrets from ``token_for``, while inside."""
    labels = iter(label for _, label, _ in TOKENS)
    saved = eventsourcing.domain.datetime_now_with_tzinfo, token_commands.new_token
    eventsourcing.domain.datetime_now_with_tzinfo = clock.tick
    token_commands.new_token = lambda: token_for(next(labels))
    try:
        yield
    finally:
        eventsourcing.domain.datetime_now_with_tzinfo, token_commands.new_token = saved


def nightly_part(size: int) -> dict[str, Any]:
    """One locale of the nightly (a v2 part)."""
    return {"completes": [{"from": "*", "filesize": size, "hashValue": f"{size:x}" * 16}]}


def nightly_blob() -> dict[str, Any]:
    """A schema 9 nightly with one locale; the others arrive as v2 parts."""
    return {
        "name": NIGHTLY,
        "schema_version": 9,
        "hashFunction": "sha512",
        "appVersion": "122.0a1",
        "displayVersion": "122.0a1",
        "fileUrls": {
            "*": {
                "completes": {
                    "*": (
                        "https://archive.mozilla.org/pub/firefox/nightly/latest-mozilla-central/"
                        "firefox-122.0a1.%LOCALE%.linux-x86_64.complete.mar"
                    )
                }
            }
        },
        "platforms": {
            NIGHTLY_PLATFORM: {
                "buildID": "20231115101500",
                "OS_FTP": "linux-x86_64",
                "OS_BOUNCER": "linux64",
                "locales": {"en-US": nightly_part(40000)},
            }
        },
    }


# ------------------------------------------------------------------ the steps


def import_from_balrog(app: RulelogApp, folder: Path) -> None:
    """Balrog's whole history, then one more Balrog change caught up (``--since-last``)."""
    url = f"sqlite:///{folder / 'balrog.db'}"
    writer = BalrogWriter(create_balrog_db(url, release_history=True))
    build_full_history(writer)
    _run_import(app, url)
    writer.update("rules", {"rule_id": 3}, {"comment": "caught up after the import"}, "bob")
    _run_import(app, url, since_last=True)
    writer.engine.dispose()


def _run_import(app: RulelogApp, url: str, **kw: Any) -> None:
    source = BalrogSource(url)
    try:
        import_balrog(app, source, "importer", **kw)
    finally:
        source.close()


def catalogue_changes(app: RulelogApp) -> None:
    """Direct changes of every kind the import leaves out."""
    # An emergency shutoff and a pin created again after Balrog deleted them.
    app.create_shutoff("Firefox", "nightly", "alice", comment="bad build again")
    app.delete_shutoff(
        "Firefox", "nightly", app.get_shutoff("Firefox", "nightly").data_version, "alice"
    )
    app.create_pin("Firefox", "beta", "119.", "Firefox-119.0-build1", "alice")
    # A direct edit of a pin with a pending (imported) deletion: the change is rebased.
    pin = app.get_pin("Firefox", "release", "120.")
    app.change(
        "pinnable_releases",
        "update",
        {
            "product": "Firefox",
            "channel": "release",
            "version": "120.",
            "mapping": "Firefox-120.0-build1",
        },
        "alice",
        pin.data_version,
    )
    # v1: a blob replaced; a release created and deleted (its usage index retired).
    old = app.get_release("Firefox-119.0-build1")
    app.replace_release_blob(
        "Firefox-119.0-build1", old.data_version, blob("Firefox-119.0-build1", "119.0.1"), "alice"
    )
    app.create_release(
        "Firefox-118.0-build1", "Firefox", blob("Firefox-118.0-build1", "118.0"), "alice"
    )
    app.delete_release("Firefox-118.0-build1", 1, "alice")
    # v2: a release written in parts (a locale added, changed; another added), and
    # the nightly rule that serves it.
    app.create_release(NIGHTLY, "Firefox", nightly_blob(), "alice")
    v2 = ReleasesV2(app)
    locales = ("platforms", NIGHTLY_PLATFORM, "locales")

    def part(locale: str, build: Any) -> dict[str, Any]:
        return {locales[0]: {locales[1]: {locales[2]: {locale: build}}}}

    v2.update(NIGHTLY, part("de", nightly_part(41000)), {}, None, "alice")
    v2.update(NIGHTLY, part("de", nightly_part(42000)), part("de", 1), None, "alice")
    v2.update(NIGHTLY, part("ja", nightly_part(43000)), {}, None, "alice")
    app.create_rule(rule(NIGHTLY, channel="nightly", alias="firefox-nightly"), "bob")


def access_changes(app: RulelogApp) -> None:
    """Roles, tokens, channel mappings, uptake and expectations."""
    app.grant_role("erin", "qa", "alice")
    for owner, label, revoked in TOKENS:
        token_id, _ = app.issue_token(owner, "alice", label=label)
        if revoked:
            app.revoke_token(token_id, "alice")
    app.map_test_channel("release", "release-qa", "alice")
    app.map_test_channel("beta", "beta-qa", "alice")
    app.unmap_test_channel("beta-qa", "alice")
    app.report_uptake("Firefox", "release", 40, "alice")
    app.report_uptake("Firefox", "release", 60, "alice")
    nightly_de = {
        "product": "Firefox",
        "version": "121.0a1",
        "buildTarget": NIGHTLY_PLATFORM,
        "channel": "nightly",
        "locale": "de",
    }
    app.add_expectation(
        {"name": "nightly-de", "fields": nightly_de, "expect": {"version_at_least": "122.0a1"}},
        "alice",
    )
    app.change_expectation(
        {
            "name": "nightly-de",
            "fields": nightly_de,
            "expect": {"release": NIGHTLY},
            "reason": "the v2 nightly",
        },
        "alice",
    )
    app.add_expectation(
        {
            "name": "nightly-ja",
            "fields": {**nightly_de, "locale": "ja"},
            "expect": {"version_at_least": "122.0a1"},
        },
        "alice",
    )
    esr = {
        "product": "Firefox",
        "version": "200.0",
        "buildTarget": "WINNT_x86_64-msvc",
        "channel": "esr",
    }
    app.add_expectation(
        {"name": "esr-no-update", "fields": esr, "expect": {"no_update": True}}, "alice"
    )
    app.remove_expectation("esr-no-update", "alice", "esr moved on")
    app.add_expectation(
        {
            "name": "esr-no-update",
            "fields": esr,
            "expect": {"no_update": True},
            "reason": "back again",
        },
        "alice",
    )


def scheduled_changes(app: RulelogApp) -> None:
    """Scheduled changes of every kind: signed off, then enacted, cancelled or pending."""
    later = {"when": LATER}

    def sched(kind: str, change_type: str, row: dict[str, Any], dv: int | None = None) -> int:
        return app.schedule_change(kind, change_type, row, later, "alice", data_version=dv).sc_id

    def cancel(kind: str, sc_id: int) -> None:
        app.cancel_scheduled_change(
            kind, sc_id, app.get_scheduled_change(kind, sc_id).data_version, "alice"
        )

    # permissions: every grant needs a relman (the Firefox permissions policy).
    sc = sched(
        "permissions",
        "insert",
        {"username": "robot", "permission": "scheduled_change", "options": {"actions": ["enact"]}},
    )
    app.sign_off("permissions", sc, "relman", "bob")
    app.enact_scheduled_change("permissions", sc, "alice")
    sc = sched(
        "permissions", "insert", {"username": "carol", "permission": "release", "options": None}
    )
    app.sign_off("permissions", sc, "relman", "dave")
    cancel("permissions", sc)
    sc = sched(
        "permissions",
        "insert",
        {"username": "frank", "permission": "rule", "options": {"products": ["Firefox"]}},
    )
    app.sign_off("permissions", sc, "relman", "dave")  # left pending

    # emergency_shutoff: one enacted, one cancelled (the imported one stays pending).
    sc = sched(
        "emergency_shutoff",
        "insert",
        {"product": "Firefox", "channel": "aurora", "comment": "scheduled stop"},
    )
    app.sign_off("emergency_shutoff", sc, "relman", "dave")
    app.enact_scheduled_change("emergency_shutoff", sc, "alice")
    sc = sched("emergency_shutoff", "delete", {"product": "Firefox", "channel": "beta"}, 1)
    app.sign_off("emergency_shutoff", sc, "relman", "bob")
    cancel("emergency_shutoff", sc)

    # pinnable_releases: one cancelled, the same pin scheduled again (its lock is
    # claimed again) and enacted.
    esr_pin = {
        "product": "Firefox",
        "channel": "esr",
        "version": "119.",
        "mapping": "Firefox-119.0-build1",
    }
    sc = sched("pinnable_releases", "insert", esr_pin)
    cancel("pinnable_releases", sc)
    sc = sched("pinnable_releases", "insert", esr_pin)
    app.sign_off("pinnable_releases", sc, "relman", "dave")
    app.enact_scheduled_change("pinnable_releases", sc, "alice")

    # releases: one enacted, one cancelled (the imported update stays pending).
    def new_release(version: str) -> dict[str, Any]:
        name = f"Firefox-{version}-build1"
        return {"name": name, "product": "Firefox", "read_only": False, "data": blob(name, version)}

    sc = sched("releases", "insert", new_release("122.0"))
    app.sign_off("releases", sc, "relman", "bob")
    app.enact_scheduled_change("releases", sc, "alice")
    sc = sched("releases", "insert", new_release("123.0"))
    cancel("releases", sc)

    # required_signoffs/product: one enacted, one cancelled (needs the two relman
    # signoffs of the policy it removes), the imported one pending.
    sc = sched(
        "required_signoffs/product",
        "insert",
        {"product": "Firefox", "channel": "aurora", "role": "relman", "signoffs_required": 1},
    )
    app.sign_off("required_signoffs/product", sc, "relman", "dave")
    app.enact_scheduled_change("required_signoffs/product", sc, "alice")
    sc = sched(
        "required_signoffs/product",
        "delete",
        {"product": "Firefox", "channel": "release", "role": "relman"},
        2,
    )
    app.sign_off("required_signoffs/product", sc, "relman", "bob")
    app.sign_off("required_signoffs/product", sc, "relman", "dave")
    cancel("required_signoffs/product", sc)

    # required_signoffs/permissions: one enacted, one cancelled.
    sc = sched(
        "required_signoffs/permissions",
        "insert",
        {"product": "Thunderbird", "role": "relman", "signoffs_required": 1},
    )
    app.sign_off("required_signoffs/permissions", sc, "relman", "bob")
    app.enact_scheduled_change("required_signoffs/permissions", sc, "alice")
    sc = sched(
        "required_signoffs/permissions",
        "insert",
        {"product": "Fennec", "role": "relman", "signoffs_required": 1},
    )
    cancel("required_signoffs/permissions", sc)

    # rules: two pending changes. On release, signed off by the two relman the
    # policy wants; on nightly, one that breaks both nightly expectations on the
    # test view (Firefox-122.0-build1 has no Linux build), signed off by bob
    # with an override.
    sc = sched("rules", "insert", rule("Firefox-120.0-build1", priority=150, locale="en-US"))
    app.sign_off("rules", sc, "relman", "bob")
    app.sign_off("rules", sc, "relman", "dave")
    nightly_rule = app.get_rule("firefox-nightly")
    sc = sched(
        "rules",
        "update",
        {"rule_id": nightly_rule.rule_id, "mapping": "Firefox-122.0-build1"},
        nightly_rule.data_version,
    )
    app.sign_off(
        "rules", sc, "relman", "bob", override=("122 goes to nightly", ["nightly-de", "nightly-ja"])
    )


def close_cleanly(app: RulelogApp, path: Path) -> None:
    """Index the timeline, close the application, and leave one file (no WAL sidecars)."""
    os.environ["RULELOG_CHECKPOINT_EVERY"] = CHECKPOINT_EVERY
    timeline = open_timeline(app)
    timeline.catch_up()
    timeline.engine.dispose()
    app.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        leftover = Path(f"{path}{suffix}")
        if leftover.exists():
            raise SystemExit(f"{leftover} is still there")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the SQLite file to write (must not exist)")
    path: Path = parser.parse_args().path.resolve()
    if path.exists():
        sys.exit(f"{path} exists; remove it first")
    clock = Clock()
    with fixed_clock_and_tokens(clock), tempfile.TemporaryDirectory() as folder:
        app = open_app(f"sqlite:///{path}")
        app.now = clock.now  # type: ignore[method-assign]
        import_from_balrog(app, Path(folder))
        catalogue_changes(app)
        access_changes(app)
        scheduled_changes(app)
        close_cleanly(app, path)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
