"""Balrog's split (v2) releases in the import, its catch-up and ``--verify``.

Balrog serves a name that is in both ``releases`` and ``releases_json`` from
``releases_json``; rulelog keeps one release per name, so the old table's rows
of such a name are left out (and counted). What is compared with Balrog is
its assembled v2 releases and their merged pending changes
(``domain.balrog.v2_releases``) next to the store's releases and the
scheduled changes the import made of them (recorded in its summary).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from rulelog.adapters.balrog_source import UNKNOWN_ACTOR, BalrogSource
from rulelog.adapters.balrog_v2_source import BalrogV2Source
from rulelog.domain import ids
from rulelog.domain.balrog.marks import BalrogImport
from rulelog.domain.balrog.rows import HistoryRow
from rulelog.domain.balrog.v2_releases import BASE_TABLE, MERGED_SC, comparable
from rulelog.domain.catalog.releases import Release
from rulelog.projections.balrog_compare import COMPARED, V2Side
from rulelog.projections.log import decode, read_log, read_notifications
from rulelog.projections.state import blob_sha
from rulelog.services.application import RulelogApp

#: Releases a catch-up reads per statement.
READS = 500
SHADOWED = "releases: rows of names also in releases_json (Balrog serves those from there)"


def shadowed(
    rows: Iterable[HistoryRow], v2_names: set[str], skipped: Counter[str]
) -> Iterator[HistoryRow]:
    """``rows`` without the old ``releases`` rows of names ``releases_json`` holds."""
    for row in rows:
        if row.table == "releases" and row.values.get("name") in v2_names:
            skipped[SHADOWED] += 1
            continue
        yield row


def balrog_rows(source: BalrogSource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Balrog's current rows as the comparison reads them: every compared table (old
    releases shadowed by v2 ones left out), the v2 releases assembled, and their
    pending changes merged."""
    v2 = BalrogV2Source(source)
    names = v2.names()
    for table in COMPARED:
        for row in source.current(table):
            if not (table == "releases" and row.get("name") in names):
                yield table, row
    for values in v2.releases():
        yield BASE_TABLE, values
    for values in v2.pending():
        yield MERGED_SC, values


def store_side(app: RulelogApp, source: BalrogSource) -> V2Side:
    """The store's releases that Balrog holds as v2 releases, and the scheduled
    changes the import (and its catch-ups) made of pending v2 changes."""
    releases = {}
    for name in sorted(BalrogV2Source(source).names()):
        release = app.find(ids.release_id(name), Release)
        if release is not None and not release.deleted:
            values = {
                "product": release.product,
                "read_only": release.read_only,
                "part_versions": release.part_versions,
            }
            releases[name] = comparable(values, blob_sha(release.blob))
    return V2Side(releases, imported_v2_changes(app))


def imported_v2_changes(app: RulelogApp) -> dict[int, dict[str, Any]]:
    """rulelog sc_id -> the pending v2 changes the import merged into it (its summary)."""
    scheduled: dict[int, dict[str, Any]] = {}
    topics = (BalrogImport.Created.TOPIC, BalrogImport.CaughtUp.TOPIC)
    for logged in read_log(app, topics=topics):
        made = (logged.event.summary or {}).get("v2_scheduled_changes") or {}
        scheduled.update({int(sc_id): info for sc_id, info in made.items()})
    return scheduled


def pending_left_out(app: RulelogApp, v2: BalrogV2Source) -> list[str]:
    """A catch-up's note of pending v2 changes the first import did not merge
    (a catch-up does not import them; ``--verify`` lists them as differences)."""
    known = {info["name"] for info in imported_v2_changes(app).values()}
    return [
        f"{values['base_name']}: pending v2 changes ({', '.join(values['sources'])}) "
        "made since the import are not imported by a catch-up"
        for values in v2.pending()
        if values["base_name"] not in known
    ]


def v2_changed_since(
    app: RulelogApp, source: BalrogSource, v2: BalrogV2Source
) -> list[HistoryRow]:
    """v2 releases Balrog changed since the import (new, or any part's data_version,
    product or read_only differs), for a catch-up, at the time of the catch-up.

    A stored release in neither ``releases_json`` nor ``releases`` is gone: when
    the old table has a history, its deletions come from there and only v2 ones
    are left to find here (otherwise ``_releases_changed_since`` finds them all).
    Pending v2 changes are imported by the first import only.
    """
    now = int(time.time() * 1000)
    rows: list[HistoryRow] = []
    names: set[str] = set()
    releases = v2.releases()
    while chunk := list(islice(releases, READS)):
        stored = _stored(app, [values["name"] for values in chunk])
        for values in chunk:
            names.add(values["name"])
            release = stored.get(values["name"])
            if (
                release is None
                or release.deleted
                or release.part_versions != values["part_versions"]
                or release.product != values["product"]
                or release.read_only != values["read_only"]
            ):
                rows.append(HistoryRow(BASE_TABLE, None, UNKNOWN_ACTOR, now, values))
    if source.has_history("releases"):
        names |= {str(v["name"]) for v in source.current("releases")}
        created = read_notifications(app, topics=(Release.Created.TOPIC,))
        others = sorted({decode(app, n).event.name for n in created} - names)
        for start in range(0, len(others), READS):
            for name, release in _stored(app, others[start : start + READS]).items():
                if not release.deleted:
                    row = HistoryRow(BASE_TABLE, None, UNKNOWN_ACTOR, now, {"name": name})
                    rows.append(row)
    return rows


def _stored(app: RulelogApp, names: list[str]) -> dict[str, Release]:
    """The stored releases of ``names`` (those there are), read in one statement."""
    found = app.reader.get_many([ids.release_id(name) for name in names])
    out = {}
    for name in names:
        release = found.get(ids.release_id(name))
        if isinstance(release, Release):
            out[name] = release
    return out
