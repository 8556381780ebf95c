"""The compiled, in-memory index that answers update requests from the live view.

``ServingState`` folds the log into its own ``Catalog`` and keeps one
``LiveIndex`` per generation: compiled rules, release rows, shutoffs and pins,
built only where events changed something (rules are recompiled only when a
rule event arrived). A generation is never mutated once published, so the
thread that follows the log can swap in the next one while requests read the
current one without locks.

Blobs are the one shared, growing part: they are loaded on demand at exactly
the aggregate version the catalog row names and cached by (name, version).
Such a pair never changes meaning, so the cache is valid across generations;
entries of releases that changed are dropped to bound memory.

Requests evaluate against a ``RequestView``: the rules narrowed once per
(product, channel, buildTarget) by the domain's ``RuleIndex`` (matching is
``domain.serving.matching``'s alone), and a blob lookup that never blocks: a
blob not yet loaded is recorded as missing, and the HTTP layer evaluates again
off the event loop over a view that loads it. A derived test channel is
answered from an index built over ``projections.views.served_test_view``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rulelog.domain.access.users import User
from rulelog.domain.bounds import id_from
from rulelog.domain.catalog.channels import ChannelMap
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.serving.evaluate import KeyedRows
from rulelog.domain.serving.matching import CompiledRule, RuleIndex
from rulelog.domain.serving.request import UpdateRequest
from rulelog.domain.workflow.expectations import Expectation
from rulelog.domain.workflow.policies import SignoffPolicies
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.domain.workflow.uptake import Uptake
from rulelog.projections.blobs import DEFAULT_BLOB_CACHE, BlobCache, BlobLoader, app_loader
from rulelog.projections.change_ids import ChangeIds
from rulelog.projections.log import read_log
from rulelog.projections.revisions import RuleRevisions, stored_revisions
from rulelog.projections.state import Catalog, folded_topics
from rulelog.projections.views import ChannelView, as_test_channel, served_test_view

__all__ = ["BlobCache", "LiveIndex", "RequestView", "ServingState", "app_loader"]


#: Which catalog table each event class changes (the others do not affect serving).
_KINDS: dict[type, str] = {
    **{cls: "rules" for cls in (Rule.Created, Rule.Updated, Rule.Deleted)},
    **{
        cls: "releases"
        for cls in (
            Release.Created,
            Release.Recreated,
            Release.BlobReplaced,
            Release.PartsChanged,
            Release.ReadOnlyChanged,
            Release.Deleted,
        )
    },
    **{
        cls: "shutoffs"
        for cls in (
            EmergencyShutoff.Created,
            EmergencyShutoff.Recreated,
            EmergencyShutoff.CommentChanged,
            EmergencyShutoff.Deleted,
        )
    },
    **{
        cls: "pins"
        for cls in (
            PinnableRelease.Created,
            PinnableRelease.Recreated,
            PinnableRelease.MappingChanged,
            PinnableRelease.Deleted,
        )
    },
    # What test channels derive from: pending scheduled changes and mappings.
    **{
        cls: "scheduled"
        for cls in (
            ScheduledChange.Created,
            ScheduledChange.Modified,
            ScheduledChange.Rebased,
            ScheduledChange.Cancelled,
            ScheduledChange.Enacted,
        )
    },
    **{cls: "scheduled" for cls in (ChannelMap.Mapped, ChannelMap.Unmapped)},
}

#: Rule fields that matching never reads: an edit of only these changes nothing but
#: the answers that rule itself gave (what it maps to, throttling, its data_version).
SERVING_ONLY_FIELDS = frozenset(
    {"mapping", "fallbackMapping", "backgroundRate", "update_type", "comment", "alias"}
)

#: Rule fields nothing served reads at all: an edit of only these changes the answers
#: that rule gave as the top rule in just their ``Rule-Data-Version`` header.
LABEL_FIELDS = frozenset({"comment"})

#: Events the catalog folds that change nothing served (who may do what, signoffs,
#: uptake, expectations). Any other folded event outside ``_KINDS`` -- one added later, say --
#: makes answer caches start again, so a cache is never wrong by omission.
_INERT: frozenset[type] = frozenset(
    {
        User.Created,
        User.PermissionGranted,
        User.PermissionChanged,
        User.PermissionRevoked,
        User.RoleGranted,
        User.RoleRevoked,
        SignoffPolicies.PolicySet,
        SignoffPolicies.PolicyRemoved,
        Uptake.Created,
        Uptake.Reported,
        ScheduledChange.SignedOff,
        ScheduledChange.SignoffRevoked,
        Expectation.Created,
        Expectation.Readded,
        Expectation.Changed,
        Expectation.Removed,
    }
)
_FOLDED = frozenset(folded_topics())

#: Test-channel indexes kept per generation; keys come from requests, so bounded.
TESTS_MAX = 4096


@dataclass(frozen=True)
class LiveIndex(KeyedRows):
    """One generation of the live view, ready to serve; a ``ServingView`` (its shutoffs,
    pins and release products looked up as ``KeyedRows`` says).

    Lookups of blobs not yet cached load them synchronously here; requests
    use ``for_request`` instead, whose view never blocks unless told to load.
    """

    position: int = 0
    rule_table: RuleIndex = field(default_factory=lambda: RuleIndex(()))
    rules_by_id: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    releases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shutoffs: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    pins: Mapping[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    blobs: BlobCache = field(default_factory=BlobCache)
    #: The state this generation was built from (shallow and never mutated):
    #: what derived test-channel views are computed from.
    snapshot: Catalog | None = None
    #: Test-channel indexes of this generation, built on first request.
    tests: dict[str, LiveIndex] = field(default_factory=dict)
    #: Blobs that replace the live ones (a test view's pending release changes);
    #: None means the release is deleted there.
    overrides: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    #: The derived view a test-channel index serves (None for the live index).
    view: ChannelView | None = None
    #: This generation's number, and the products whose answers may differ from the
    #: previous generation's (None: any answer may): what answer caches drop.
    generation: int = 0
    changed_products: frozenset[str] | None = None
    changed_rules: frozenset[int] = frozenset()
    #: Rules edited in ``LABEL_FIELDS`` alone since the previous generation: the answers
    #: they gave differ in their data_version header at most.
    relabelled: frozenset[int] = frozenset()

    # ---- ServingView
    def rules(self, product: str) -> Sequence[CompiledRule]:
        return self.rule_table.candidates(product)

    def release(self, name: str) -> Mapping[str, Any] | None:
        if name in self.overrides:
            return self.overrides[name]
        row = self.releases.get(name)
        return None if row is None else self.blobs.load(name, row["version"])

    # ---- serving helpers
    def for_request(self, request: UpdateRequest, *, load: bool = False) -> RequestView:
        """The view ``request`` evaluates over; ``load``: one that loads missing blobs
        (blocking: for a worker thread), else one that records them as missing."""
        index = self.index_for(request.channel)
        return RequestView(index, request.channel, request.build_target, load=load)

    def index_for(self, channel: str) -> LiveIndex:
        """This index, or the derived index if ``channel`` is a derived test channel."""
        if self.snapshot is None or self.view is not None:
            return self
        found = self.tests.get(channel)
        if found is not None:
            return found
        found = as_test_channel(self.snapshot, channel)
        if found is None:
            return self
        # A hand-kept test channel is answered from this index, as any channel;
        # remembered too, since deciding so reads every rule.
        made = self._derived(found.live, channel) if found.derived else self
        if len(self.tests) >= TESTS_MAX:
            self.tests.clear()
        self.tests[channel] = made
        return made

    def test_view_index(self, live: str, test: str) -> LiveIndex:
        """The derived index of ``live``'s test view (``test`` names it), whether or not
        ``test`` is answered from it: what checks on a test view evaluate over."""
        return self._derived(live, test)

    def _derived(self, live: str, test: str) -> LiveIndex:
        """The index of test channel ``test``: the live view of ``live`` plus its pending
        changes, as ``projections.views.served_test_view`` shapes it."""
        assert self.snapshot is not None
        view = served_test_view(self.snapshot, live, test)
        return replace(
            self,
            rule_table=RuleIndex.revised(self.rule_table, view.rules.values()),
            rules_by_id=view.rules,
            shutoffs=view.shutoffs,
            pins=view.pins,
            releases={**self.releases, **view.releases},
            # The live index's own overrides (a what-if's enacted blobs) stay beneath.
            overrides={**self.overrides, **view.release_blobs},
            tests={},
            view=view,
        )

    def rule(self, id_or_alias: str) -> Mapping[str, Any] | None:
        """A live rule by id (digits) or alias, as Balrog's ``getRule`` finds it."""
        # Digits too many to be an id (or not ASCII: "²") name no rule.
        by_id = id_or_alias.isdigit()
        rule_id = id_from(id_or_alias) if by_id else self.aliases.get(id_or_alias)
        return None if rule_id is None else self.rules_by_id.get(rule_id)

    def mapped_releases(self) -> set[str]:
        """Releases that rules name: the ones worth loading before anyone asks."""
        rows = self.rules_by_id.values()
        return {r[c] for r in rows for c in ("mapping", "fallbackMapping") if r.get(c)}

    def load_missing(self, missing: Iterable[tuple[str, int]]) -> None:
        for name, version in missing:
            self.blobs.load(name, version)


class RequestView:
    """The view one request evaluates over: narrowed rules; blobs not in memory are
    recorded as ``missing`` (never blocking), or with ``load`` loaded."""

    __slots__ = ("_build_target", "_channel", "_index", "_load", "missing")

    def __init__(
        self, index: LiveIndex, channel: str, build_target: str, *, load: bool = False
    ) -> None:
        self._index = index
        self._channel = channel
        self._build_target = build_target
        self._load = load
        self.missing: list[tuple[str, int]] = []

    @property
    def index(self) -> LiveIndex:  # a derived one for a derived test channel
        return self._index

    def rules(self, product: str) -> Sequence[CompiledRule]:
        return self._index.rule_table.narrowed(product, self._channel, self._build_target)

    def release(self, name: str) -> Mapping[str, Any] | None:
        if self._load:
            return self._index.release(name)
        if name in self._index.overrides:
            return self._index.overrides[name]
        row = self._index.releases.get(name)
        if row is None:
            return None
        data = self._index.blobs.get(name, row["version"])
        if data is None:
            self.missing.append((name, row["version"]))
        return data

    def release_product(self, name: str) -> str | None:
        return self._index.release_product(name)

    def is_shut_off(self, product: str, channel: str) -> bool:
        return (product, channel) in self._index.shutoffs

    def pin_mapping(self, product: str, channel: str, version: str) -> str | None:
        return self._index.pin_mapping(product, channel, version)


class ServingState:
    """The live view kept current by folding new log events into it.

    ``advance`` is called by one thread (the follower); ``index`` may be read
    from any thread at any time and is always a complete generation.
    """

    def __init__(
        self, loader: BlobLoader | None = None, blob_limit: int = DEFAULT_BLOB_CACHE
    ) -> None:
        self.catalog = Catalog()
        self.revisions = RuleRevisions()
        #: The change_ids the revisions answer (``projections.change_ids``).
        self.change_ids = ChangeIds()
        self.blobs = BlobCache(loader, blob_limit)
        self._index = LiveIndex(blobs=self.blobs)
        self._dirty: set[str] = set()
        #: Products whose answers the unpublished events may change (None: any), and
        #: rules whose own answers they may change.
        self._products: set[str] | None = set()
        self._rules: set[int] = set()
        self._relabelled: set[int] = set()
        self.loaded = False
        self.generation = 0

    @property
    def index(self) -> LiveIndex:
        return self._index

    def start_from(self, checkpoint: Catalog, app: Any) -> None:
        """Begin at a checkpoint of the log rather than at its start (before the first
        ``advance``): the next fold reads only the events after it. Revisions of
        rules that existed then are read from the store when asked for."""
        if self.loaded or self.catalog.position:
            raise ValueError("a serving state starts from a checkpoint only before its first fold")
        self.catalog = checkpoint
        self.revisions = RuleRevisions(
            since=checkpoint.position, loader=lambda rule_id: stored_revisions(app, rule_id)
        )
        self.change_ids = ChangeIds.read(app, stop=checkpoint.position)

    def advance(self, app: Any, read: Callable[..., Iterable[Any]] = read_log) -> int:
        """Fold the events after the current position (``read`` from ``app``: a faster
        reader of the store may be given); returns how many there were.

        A failure part-way keeps what was folded and what it dirtied, so the
        next call continues from the last applied event and rebuilds then.
        """
        if self.blobs.loader is None:
            self.blobs.loader = app_loader(app)
        count = 0
        for logged in read(app, self.catalog.position + 1):
            kind = _KINDS.get(type(logged.event))
            before = self._rule_product(logged) if kind == "rules" else None
            self.catalog.apply(logged)
            self.change_ids.record(logged)
            count += 1
            if kind is not None:
                self._dirty.add(kind)
                if kind == "rules":
                    self.revisions.record(logged, self.catalog)
                    self._note_rule_change(logged, before)
                else:
                    self._products = None
            elif logged.topic in _FOLDED and type(logged.event) not in _INERT:
                self._products = None  # folded, yet not known to leave answers alone
        if count or self._dirty or not self.loaded:
            self._publish()
        self.loaded = True
        return count

    def _rule_product(self, logged: Any) -> str | None:
        """The product of the rule ``logged`` is about, as the catalog has it now."""
        stream = self.catalog._streams.get(logged.originator_id.int)
        row = self.catalog.rules.get(stream.key) if stream is not None else None
        product = row.get("product") if row is not None else None
        return product if isinstance(product, str) else None

    def _note_rule_change(self, logged: Any, before: str | None) -> None:
        """Which answers a rule event can change.

        An edit of fields matching never reads (``SERVING_ONLY_FIELDS``) changes
        only the answers that rule gave (of ``LABEL_FIELDS`` alone: only their
        ``Rule-Data-Version``); any other edit only the answers for its
        product before and after -- unless it moves the rule's channel; a rule
        without a product, or one created or deleted, may change any answer.
        """
        stream = self.catalog._streams.get(logged.originator_id.int)
        event = logged.event
        if (
            isinstance(event, Rule.Updated)
            and stream is not None
            and set(event.changes) <= SERVING_ONLY_FIELDS
        ):
            if set(event.changes) <= LABEL_FIELDS and stream.key not in self._rules:
                self._relabelled.add(stream.key)
            else:
                self._rules.add(stream.key)
            return
        after = self._rule_product(logged)
        # A rule's channel also decides whether a test channel is hand-kept or derived,
        # for every product (``projections.views.kept_by``): all answers may change.
        channel_moved = isinstance(event, Rule.Updated) and "channel" in event.changes
        if self._products is None or before is None or after is None or channel_moved:
            self._products = None
        else:
            self._products |= {before, after}

    def warm(self, most: int = 256) -> int:
        """Load up to ``most`` of the blobs rules map to (while the cache has room), so
        the first requests need no store read; returns how many it loaded.

        Called in small steps by the follower between polls, never while folding:
        on a big store the blobs alone take seconds to load.
        """
        index, loaded = self._index, 0
        if index.blobs.full:
            return 0
        for name in index.mapped_releases():
            row = index.releases.get(name)
            if row is not None and index.blobs.get(name, row["version"]) is None:
                index.blobs.load(name, row["version"])
                loaded += 1
                if loaded >= most or index.blobs.full:
                    break
        return loaded

    def _publish(self) -> None:
        old, c, dirty = self._index, self.catalog, self._dirty
        changes: dict[str, Any] = {"position": c.position}
        if "rules" in dirty or self.generation == 0:
            rows = _rows_now(old.rules_by_id, c.rules)
            changes["rules_by_id"] = rows
            changes["rule_table"] = RuleIndex.revised(old.rule_table, rows.values())
            changes["aliases"] = {r["alias"]: i for i, r in rows.items() if r.get("alias")}
        if "releases" in dirty or self.generation == 0:
            releases = {name: dict(row) for name, row in c.releases.items()}
            changes["releases"] = releases
            self.blobs.retain({name: row["version"] for name, row in releases.items()})
        if "shutoffs" in dirty or self.generation == 0:
            changes["shutoffs"] = {k: dict(row) for k, row in c.shutoffs.items()}
        if "pins" in dirty or self.generation == 0:
            changes["pins"] = {k: dict(row) for k, row in c.pins.items()}
        merged = {
            **{f: getattr(old, f) for f in ("rules_by_id", "releases", "shutoffs", "pins")},
            **changes,
        }
        changes["snapshot"] = Catalog(
            position=c.position,
            rules=merged["rules_by_id"],
            releases=merged["releases"],
            shutoffs=merged["shutoffs"],
            pins=merged["pins"],
            scheduled={key: dict(sc) for key, sc in c.scheduled.items()},
            test_channels=dict(c.test_channels),
        )
        changes["tests"] = {}
        changes["generation"] = self.generation + 1
        products = self._products
        changes["changed_products"] = None if products is None else frozenset(products)
        rows = merged["rules_by_id"]
        relabelled = self._relabelled - self._rules
        changes["changed_rules"] = frozenset(self._rules | {r for r in relabelled if r not in rows})
        changes["relabelled"] = frozenset(r for r in relabelled if r in rows)
        self._index = replace(old, **changes)
        self._dirty = set()
        self._products = set()
        self._rules = set()
        self._relabelled = set()
        self.generation += 1


def _rows_now(
    published: Mapping[int, Mapping[str, Any]], rules: Mapping[int, Mapping[str, Any]]
) -> dict[int, Mapping[str, Any]]:
    """The catalog's rule rows, as the next generation's own: a row equal to the one
    ``published`` is that very object (generations never mutate their rows), so
    ``RuleIndex.revised`` compiles only the rows that changed; others are copied."""
    rows: dict[int, Mapping[str, Any]] = {}
    for rule_id, row in rules.items():
        before = published.get(rule_id)
        rows[rule_id] = before if before is not None and before == row else dict(row)
    return rows
