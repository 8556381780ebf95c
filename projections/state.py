"""The catalogue of rules, releases, shutoffs and pins, folded from the log.

``Catalog.apply`` folds each domain event that changes what Balrog's APIs
list, through its handler in ``state_events.HANDLERS``, and ignores the index
aggregates (sequences, alias claims, release usage) that exist only to keep
invariants. This module holds the catalogue itself: its tables, the stream of
each row, checkpoints and the deferred blob digests. Rows are Balrog-shaped dicts with
``data_version``, so every edge that shows them formats them the same way.
Release rows carry ``version`` (the aggregate version) instead of the blob:
the blob is loaded on demand at exactly that version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from rulelog.domain import ids
from rulelog.domain.catalog.channels import ChannelMap
from rulelog.domain.workflow.policies import SignoffPolicies
from rulelog.projections.log import LoggedEvent
from rulelog.projections.state_events import (
    HANDLERS,
    PIPED_DIGEST,
    Stream,
    blob_sha,
    folded_topics,
)

__all__ = ["Catalog", "blob_sha", "enactment_order", "folded_topics"]


@dataclass
class Catalog:
    """What exists at ``position``: Balrog's tables as of that point in the log."""

    position: int = 0
    rules: dict[int, dict[str, Any]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    shutoffs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pins: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    #: (kind, sc_id) -> the scheduled change, every status
    scheduled: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: username -> {"permissions": {name: {options, data_version}}, "roles": {...}}
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: "product" / "permissions" -> key -> policy row
    policies: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"product": {}, "permissions": {}}
    )
    #: (product, channel) -> latest reported uptake percent
    uptake: dict[tuple[str, str], float] = field(default_factory=dict)
    #: explicitly mapped test channel -> its live channel
    test_channels: dict[str, str] = field(default_factory=dict)
    #: expectation name -> {name, product, channel, url, expect, changed_by, reason, data_version}
    expectations: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Keep cancelled and enacted changes (a full audit listing) or drop them
    #: (what views and checkpoints need: the state stays the size of what is live).
    keep_ended: bool = False
    #: originator id (as its 128-bit integer) -> its row's stream. Integers, not
    #: UUIDs: a checkpoint restores thousands of these, and making a UUID costs
    #: more than decoding the rest of the entry.
    _streams: dict[int, Stream] = field(default_factory=dict, repr=False)
    #: originator id -> the latest blob of a release whose digest is still owed
    _undigested: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)
    _deferring: bool = field(default=False, repr=False, compare=False)
    #: What changed since ``take_changes`` (None: not tracked); see ``track_changes``.
    _dirty: dict[tuple[str, Any], bool] | None = field(default=None, repr=False, compare=False)

    def fold(self, events: Iterable[LoggedEvent]) -> Catalog:
        """Apply ``events`` in order; see ``digests_deferred`` for the blob digests."""
        with self.digests_deferred():
            for logged in events:
                self.apply(logged)
        return self

    @contextmanager
    def digests_deferred(self) -> Iterator[Catalog]:
        """Within the block, digest each release's blob once, as it is at the end.

        Hashing a blob costs about as much as decoding it, and a release is often
        rebuilt many times within a stretch of the log: only its last blob's
        digest can be seen. ``settle`` (called on leaving, and by ``to_data``)
        fills in what is owed.
        """
        was, self._deferring = self._deferring, True
        try:
            yield self
        finally:
            self._deferring = was
            if not was:
                self.settle()

    def settle(self) -> None:
        """Fill in the blob digests put aside by ``digests_deferred``."""
        owed, self._undigested = self._undigested, {}
        for originator, blob in owed.items():
            stream = self._streams.get(originator)
            row = self.releases.get(stream.key) if stream is not None else None
            if row is not None:
                row["blob_sha"] = blob_sha(blob)

    def _digest(self, ev: Any) -> str | None:
        """The digest of a release event's blob, or None until ``settle`` if deferred
        (one made already, by the process that read the event, is taken as it is)."""
        given = getattr(ev, PIPED_DIGEST, None)
        if given is not None:
            self._undigested.pop(ev.originator_id.int, None)  # an older blob's is moot
            return given  # type: ignore[no-any-return]
        if not self._deferring:
            return blob_sha(ev.blob)
        if len(self._undigested) >= _MOST_UNDIGESTED:
            self.settle()  # a long fold keeps only so many decoded blobs alive
        # After settling: this event's row is not written yet, so it could not be.
        self._undigested[ev.originator_id.int] = ev.blob
        return None

    def apply(self, logged: LoggedEvent) -> None:
        self.apply_event(logged.position, logged.event)

    def apply_event(self, position: int, event: Any) -> None:
        """``apply`` for a decoded event not wrapped in a ``LoggedEvent`` (a rebuild)."""
        self.position = position
        handler = HANDLERS.get(type(event))
        if handler is None:
            return
        if self._dirty is None:
            handler(self, event)
            return
        self._tracked(handler, event)

    # ------------------------------------------------------- change tracking

    def track_changes(self) -> None:
        """From now on, note which rows each folded event may change (for deltas).

        A timeline delta holds the rows that changed over a stretch of the log,
        so its size is what changed, not the catalogue's. Every handler reaches
        its row through the originator's stream (``_streams``), except the
        policies and the channel map, which are small and marked whole: so
        marking the originator's stream, and its row before and after the
        handler (streams appear and disappear with their rows), misses nothing.
        """
        if self._dirty is None:
            self._dirty = {}

    def take_changes(self) -> dict[tuple[str, Any], bool]:
        """The (table, key) marked since the last call, in the order they were last
        inserted, each with whether it was (re)inserted (True) or only changed in
        place (False); ``settle`` first, so the rows' digests are final."""
        self.settle()
        taken, self._dirty = self._dirty or {}, {}
        return taken

    def _tracked(self, handler: Any, event: Any) -> None:
        """Run ``handler``, marking what it may change in ``_dirty``.

        A key absent before and present after was inserted: it moved to the end
        of its table's order, and so to the end of the marks, so that applying
        the marks in order gives back the fold's order of every table (and equal
        states give equal checkpoint bytes). A key whose stream is new is taken
        as inserted (a stream appears only with its row).
        """
        dirty = self._dirty
        assert dirty is not None
        whole = _WHOLE.get(type(event))
        if whole is not None:
            handler(self, event)
            dirty[(whole, None)] = False
            return
        originator = event.originator_id.int
        had_stream = originator in self._streams
        before = self._streams.get(originator)
        if before is not None:
            table = self._table(before.table)
            had_row = before.key in table
        handler(self, event)
        after = self._streams.get(originator)
        if before is not None:
            _mark(dirty, (before.table, before.key), had_row, before.key in table)
        if after is not None and (before is None or after.key != before.key):
            _mark(dirty, (after.table, after.key), False, after.key in self._table(after.table))
        _mark(dirty, ("_streams", originator), had_stream, after is not None)

    # ------------------------------------------------------- checkpoints

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data; ``from_data`` gives back an equal catalogue."""
        self.settle()
        return {
            "position": self.position,
            "keep_ended": self.keep_ended,
            "rules": list(self.rules.values()),
            "releases": list(self.releases.values()),
            "shutoffs": list(self.shutoffs.values()),
            "pins": list(self.pins.values()),
            "scheduled": list(self.scheduled.values()),
            "users": self.users,
            "policies": self.policies,
            "uptake": [[p, c, v] for (p, c), v in self.uptake.items()],
            "test_channels": self.test_channels,
            "expectations": list(self.expectations.values()),
            "streams": [
                [i, s.table, list(s.key) if isinstance(s.key, tuple) else s.key, s.base]
                for i, s in self._streams.items()
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Catalog:
        return cls(
            position=data["position"],
            keep_ended=data["keep_ended"],
            rules={r["rule_id"]: r for r in data["rules"]},
            releases={r["name"]: r for r in data["releases"]},
            shutoffs={(r["product"], r["channel"]): r for r in data["shutoffs"]},
            pins={(r["product"], r["channel"], r["version"]): r for r in data["pins"]},
            scheduled={(r["kind"], r["sc_id"]): r for r in data["scheduled"]},
            users=data["users"],
            policies=data["policies"],
            uptake={(p, c): v for p, c, v in data["uptake"]},
            test_channels=data["test_channels"],
            # Checkpoints written before expectations existed have none.
            expectations={r["name"]: r for r in data.get("expectations", [])},
            _streams={
                # Checkpoints written before streams were keyed by integer have UUID strings.
                (UUID(i).int if isinstance(i, str) else i): Stream(
                    table, tuple(key) if isinstance(key, list) else key, base
                )
                for i, table, key, base in data["streams"]
            },
        )

    def streams_of(self, table: str) -> Iterator[tuple[int, Any, int]]:
        """Each live row of ``table`` as (originator id's integer, key, base version).

        The base is the aggregate version its ``data_version`` counts from: what
        a projection keyed by originator needs to go on folding the row's later
        events (``listings.Listing.replace`` starts its rows from a whole state).
        """
        rows = self._table(table)
        for originator, stream in self._streams.items():
            if stream.table == table and stream.key in rows:
                yield originator, stream.key, stream.base

    def pending(self) -> list[dict[str, Any]]:
        """Pending scheduled changes in enactment order: ``when``, then sc_id."""
        rows = [sc for sc in self.scheduled.values() if sc["status"] == "pending"]
        return sorted(rows, key=enactment_order)

    def sorted_rules(self) -> list[dict[str, Any]]:
        """Rules in Balrog's listing order: priority descending, then rule_id."""
        return sorted(self.rules.values(), key=lambda r: (-(r["priority"] or 0), r["rule_id"]))

    # --------------------------------------------------------------- folding

    def _table(self, name: str) -> dict[Any, dict[str, Any]]:
        return getattr(self, name)

    def _open(self, ev: Any, table: str, key: Any, row: dict[str, Any]) -> None:
        """A row starts (or starts again): its data_version is 1 at this event."""
        self._streams[ev.originator_id.int] = Stream(table, key, ev.originator_version - 1)
        self._table(table)[key] = {**row, "data_version": 1}

    def _reopen(self, ev: Any, row: dict[str, Any]) -> None:
        stream = self._streams.get(ev.originator_id.int) or _forgotten_release(ev)
        self._open(ev, stream.table, stream.key, {**self._identity(stream), **row})

    def _identity(self, stream: Stream) -> dict[str, Any]:
        names = {
            "releases": ("name",),
            "shutoffs": ("product", "channel"),
            "pins": ("product", "channel", "version"),
        }[stream.table]
        key = stream.key if isinstance(stream.key, tuple) else (stream.key,)
        return dict(zip(names, key, strict=True))

    def _change(self, ev: Any, changes: dict[str, Any]) -> None:
        stream = self._streams[ev.originator_id.int]
        row = self._table(stream.table)[stream.key]
        row.update(changes)
        row["data_version"] = ev.originator_version - stream.base

    def _close(self, ev: Any) -> None:
        stream = self._streams[ev.originator_id.int]
        self._table(stream.table).pop(stream.key, None)
        if stream.table in _FORGOTTEN_WHEN_CLOSED:
            # Deleted rules never return and a recreated release names itself
            # (``_forgotten_release``): without their streams, the state and
            # its checkpoints stay the size of what is live, however long the log.
            del self._streams[ev.originator_id.int]


#: Blobs a fold holds back for digesting at most (a stretch of K = 1000 events
#: typically touches well under a hundred releases).
_MOST_UNDIGESTED = 256

#: Events that change a table of their own with no stream: marked whole.
_WHOLE: dict[type, str] = {
    SignoffPolicies.PolicySet: "policies",
    SignoffPolicies.PolicyRemoved: "policies",
    ChannelMap.Mapped: "test_channels",
    ChannelMap.Unmapped: "test_channels",
}


def _mark(dirty: dict[tuple[str, Any], bool], key: tuple[str, Any], had: bool, has: bool) -> None:
    """Note a change of ``key``: an insertion moves it last (see ``Catalog._tracked``)."""
    if has and not had:
        dirty.pop(key, None)
        dirty[key] = True
    elif key not in dirty:
        dirty[key] = False


#: Tables whose rows' streams are dropped when the row is deleted.
_FORGOTTEN_WHEN_CLOSED = frozenset({"rules", "releases"})


def _forgotten_release(ev: Any) -> Stream:
    """The stream of a release recreated after its deletion was folded.

    Every stored blob carries its release's name (validated on every create,
    update and import, as Balrog does), and a release's id is derived from
    its name, so the name is recovered and checked rather than remembered.
    """
    name = ev.blob.get("name") if isinstance(ev.blob, dict) else None
    if not isinstance(name, str) or ids.release_id(name) != ev.originator_id:
        raise ValueError(
            f"release {ev.originator_id} recreated with a blob that does not name it: {name!r}"
        )
    return Stream("releases", name, 0)


def enactment_order(sc: dict[str, Any]) -> tuple[str, str, int]:
    """``when`` first (uptake-gated changes, which have none, after), then kind and sc_id."""
    return (sc["condition"].get("when") or "~", sc["kind"], sc["sc_id"])
