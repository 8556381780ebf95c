"""The catalogue of rules, releases, shutoffs and pins, folded from the log.

``Catalog.apply`` knows each domain event that changes what Balrog's APIs
list, and ignores the index aggregates (sequences, alias claims, release
usage) that exist only to keep invariants. Rows are Balrog-shaped dicts with
``data_version``, so every edge that shows them formats them the same way.
Release rows carry ``version`` (the aggregate version) instead of the blob:
the blob is loaded on demand at exactly that version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.pins import PinnableRelease
from domain.releases import Release
from domain.rules import Rule
from domain.shutoffs import EmergencyShutoff
from projections.log import LoggedEvent


@dataclass
class _Stream:
    """Where an aggregate's row lives, and the version its data_version counts from."""

    table: str
    key: Any
    base: int


@dataclass
class Catalog:
    """What exists at ``position``: Balrog's tables as of that point in the log."""

    position: int = 0
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    shutoffs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pins: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    _streams: dict[UUID, _Stream] = field(default_factory=dict, repr=False)

    def fold(self, events: Iterable[LoggedEvent]) -> Catalog:
        for logged in events:
            self.apply(logged)
        return self

    def apply(self, logged: LoggedEvent) -> None:
        handler = _HANDLERS.get(type(logged.event))
        if handler is not None:
            handler(self, logged.event)
        self.position = logged.position

    def sorted_rules(self) -> list[dict[str, Any]]:
        """Rules in Balrog's listing order: priority descending, then rule_id."""
        return sorted(self.rules.values(), key=lambda r: (-(r["priority"] or 0), r["rule_id"]))

    # --------------------------------------------------------------- folding

    def _table(self, name: str) -> dict[Any, dict[str, Any]]:
        return getattr(self, name)

    def _open(self, ev: Any, table: str, key: Any, row: dict[str, Any]) -> None:
        """A row starts (or starts again): its data_version is 1 at this event."""
        self._streams[ev.originator_id] = _Stream(table, key, ev.originator_version - 1)
        self._table(table)[key] = {**row, "data_version": 1}

    def _reopen(self, ev: Any, row: dict[str, Any]) -> None:
        stream = self._streams[ev.originator_id]
        self._open(ev, stream.table, stream.key, {**self._identity(stream), **row})

    def _identity(self, stream: _Stream) -> dict[str, Any]:
        names = {
            "releases": ("name",),
            "shutoffs": ("product", "channel"),
            "pins": ("product", "channel", "version"),
        }[stream.table]
        key = stream.key if isinstance(stream.key, tuple) else (stream.key,)
        return dict(zip(names, key, strict=True))

    def _change(self, ev: Any, changes: dict[str, Any]) -> None:
        stream = self._streams[ev.originator_id]
        row = self._table(stream.table)[stream.key]
        row.update(changes)
        row["data_version"] = ev.originator_version - stream.base

    def _close(self, ev: Any) -> None:
        stream = self._streams[ev.originator_id]
        self._table(stream.table).pop(stream.key, None)


def _release_row(ev: Any) -> dict[str, Any]:
    return {"product": ev.product, "read_only": ev.read_only, "version": ev.originator_version}


_HANDLERS: dict[type, Callable[[Catalog, Any], None]] = {
    Rule.Created: lambda c, ev: c._open(
        ev, "rules", ev.rule_id, {"rule_id": ev.rule_id, **ev.fields}
    ),
    Rule.Updated: lambda c, ev: c._change(ev, ev.changes),
    Rule.Deleted: lambda c, ev: c._close(ev),
    Release.Created: lambda c, ev: c._open(
        ev, "releases", ev.name, {"name": ev.name, **_release_row(ev)}
    ),
    Release.Recreated: lambda c, ev: c._reopen(ev, _release_row(ev)),
    Release.BlobReplaced: lambda c, ev: c._change(
        ev, {"product": ev.product, "version": ev.originator_version}
    ),
    Release.ReadOnlyChanged: lambda c, ev: c._change(
        ev, {"read_only": ev.read_only, "version": ev.originator_version}
    ),
    Release.Deleted: lambda c, ev: c._close(ev),
    EmergencyShutoff.Created: lambda c, ev: c._open(
        ev,
        "shutoffs",
        (ev.product, ev.channel),
        {"product": ev.product, "channel": ev.channel, "comment": ev.comment},
    ),
    EmergencyShutoff.Recreated: lambda c, ev: c._reopen(ev, {"comment": ev.comment}),
    EmergencyShutoff.Deleted: lambda c, ev: c._close(ev),
    PinnableRelease.Created: lambda c, ev: c._open(
        ev,
        "pins",
        (ev.product, ev.channel, ev.version),
        {
            "product": ev.product,
            "channel": ev.channel,
            "version": ev.version,
            "mapping": ev.mapping,
        },
    ),
    PinnableRelease.Recreated: lambda c, ev: c._reopen(ev, {"mapping": ev.mapping}),
    PinnableRelease.Deleted: lambda c, ev: c._close(ev),
}
