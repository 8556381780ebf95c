"""Live and derived test-channel views of a catalogue at a position.

The test view of live channel C is the live state with every pending
scheduled change that touches C applied on top, in enactment order (``when``,
then sc_id): nobody edits a test channel, so it cannot drift from what will
go live. A rule change touches C when its old or its new row's channel
matches C (globs included); a release change applies when the overlaid rules
map to that release; shutoff and pin changes apply when they are for C.

Which channels are derived is decided here and only here (``as_test_channel``),
for the serving index, ``explain``, the CLI and the admin API alike, and from
the state it is given, so a past state answers with the rules and mappings of
its time. A test channel is derived when it is mapped explicitly, or when it
has a test suffix and no live rule names it on its own
(``domain.channels.names_on_its_own``). Otherwise it is *hand-kept*: answered
as Balrog answers it, by plain matching over the live rules, as any channel.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from rulelog.domain.catalog.channels import names_on_its_own
from rulelog.domain.serving.matching import channel_matches
from rulelog.projections.state import Catalog, blob_sha

#: The suffix convention: C-localtest and C-cdntest are test channels of C.
DEFAULT_TEST_SUFFIXES: tuple[str, ...] = ("-localtest", "-cdntest")
#: Rules a pending insert would create have no rule_id yet; they are shown
#: with this offset plus their sc_id (never a real id, and they lose ties).
PENDING_RULE_ID_BASE = 1_000_000_000

DERIVED = "derived"
HAND_KEPT = "hand-kept"


@dataclass(frozen=True)
class TestChannel:
    """A test channel of ``live`` at one position, and how it is answered.

    ``kept_by`` are the live rules naming it on its own (ascending ids). They
    keep a channel that only the suffix makes a test channel hand-kept; an
    explicit mapping derives the channel whatever they say (they are then
    ignored for it, and ``channels derive`` is how they are retired).
    """

    __test__ = False  # not a pytest test class, whatever its name says

    channel: str
    live: str
    mapped: bool
    kept_by: tuple[int, ...] = ()

    @property
    def derived(self) -> bool:
        return self.mapped or not self.kept_by

    @property
    def mode(self) -> str:
        return DERIVED if self.derived else HAND_KEPT

    def as_row(self) -> dict[str, Any]:
        """How ``channels list`` and the admin API show it."""
        return {
            "channel": self.channel,
            "live_channel": self.live,
            "mode": self.mode,
            "mapped": self.mapped,
            "hand_kept_by": list(self.kept_by),
        }


def live_channel_of(
    state: Catalog, channel: str, suffixes: tuple[str, ...] = DEFAULT_TEST_SUFFIXES
) -> str | None:
    """The live channel ``channel`` is a test channel of (mapped, or by suffix),
    derived or hand-kept; None if it is a live channel."""
    if channel in state.test_channels:
        return state.test_channels[channel]
    for suffix in suffixes:
        if channel.endswith(suffix) and len(channel) > len(suffix):
            return channel[: -len(suffix)]
    return None


def kept_by(state: Catalog, test: str, live: str) -> tuple[int, ...]:
    """The live rules that name ``test`` on its own (not ``live``), by rule_id."""
    return tuple(
        sorted(
            rule_id
            for rule_id, rule in state.rules.items()
            if names_on_its_own(rule.get("channel"), test, live)
        )
    )


def as_test_channel(
    state: Catalog, channel: str, suffixes: tuple[str, ...] = DEFAULT_TEST_SUFFIXES
) -> TestChannel | None:
    """What ``channel`` is at the state's position: None for a live channel."""
    live = live_channel_of(state, channel, suffixes)
    if live is None:
        return None
    return TestChannel(
        channel=channel,
        live=live,
        mapped=channel in state.test_channels,
        kept_by=kept_by(state, channel, live),
    )


def derived_from(
    state: Catalog, channel: str, suffixes: tuple[str, ...] = DEFAULT_TEST_SUFFIXES
) -> str | None:
    """The live channel whose derived view answers ``channel``; None where the
    channel is answered by plain matching over the live rules (a live channel,
    or a hand-kept test channel)."""
    found = as_test_channel(state, channel, suffixes)
    return found.live if found is not None and found.derived else None


def answered_by(test: TestChannel | None) -> str:
    """Which answers a channel: ``live`` (a live channel's rules), ``derived`` (a test
    channel's derived view) or ``hand-kept`` (the live rules, matched as Balrog does)."""
    return "live" if test is None else test.mode


def derived_channels_of(
    state: Catalog, live: str, suffixes: tuple[str, ...] = DEFAULT_TEST_SUFFIXES
) -> list[str]:
    """The test channels of ``live`` that are derived (mapped, or by suffix and not
    hand-kept)."""
    mapped = {test for test, of in state.test_channels.items() if of == live}
    by_suffix = {live + suffix for suffix in suffixes} - set(state.test_channels)
    return sorted(mapped | {c for c in by_suffix if not kept_by(state, c, live)})


def all_test_channels(
    state: Catalog, suffixes: tuple[str, ...] = DEFAULT_TEST_SUFFIXES
) -> list[TestChannel]:
    """Every test channel worth listing: mapped ones, the suffix channels of every
    channel that rules, shutoffs, pins or mappings name, and the test channels that
    rules name exactly (globs name no channel of their own)."""
    named = {r.get("channel") for r in state.rules.values()}
    named |= {key[1] for key in state.shutoffs} | {key[1] for key in state.pins}
    plain = {n for n in named if isinstance(n, str) and "*" not in n}
    lives = {n for n in plain if live_channel_of(state, n, suffixes) is None}
    lives |= set(state.test_channels.values())
    channels = set(state.test_channels) | {live + s for live in lives for s in suffixes}
    channels |= plain - lives
    found = (as_test_channel(state, c, suffixes) for c in sorted(channels))
    return [t for t in found if t is not None]


def _rule_on(rule: dict[str, Any] | None, channel: str) -> bool:
    return rule is not None and channel_matches(rule.get("channel"), channel)


@dataclass
class ChannelView:
    """What is in force for one channel at one position.

    ``rules`` are every rule that applies to the channel (globs and channel-less
    rules included); ``releases`` the release rows they map to;
    ``release_blobs`` the blobs a pending release change replaces (test views
    only); ``overlays`` the scheduled changes applied, in order.
    """

    channel: str
    live_channel: str
    position: int
    rules: dict[int, dict[str, Any]]
    shutoffs: dict[tuple[str, str], dict[str, Any]]
    pins: dict[tuple[str, str, str], dict[str, Any]]
    releases: dict[str, dict[str, Any]]
    release_blobs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    overlays: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_test(self) -> bool:
        return self.channel != self.live_channel

    def sorted_rules(self) -> list[dict[str, Any]]:
        return sorted(self.rules.values(), key=lambda r: (-(r["priority"] or 0), r["rule_id"]))

    def content(self) -> dict[str, Any]:
        """What clients of the live channel are (or would be) served, without history:
        the part two views must share to serve the same."""
        rules = [
            {k: v for k, v in r.items() if k not in ("rule_id", "data_version")}
            for r in self.rules.values()
        ]
        return {
            # Rule ids are left out: a scheduled insert gets its id only when enacted.
            "rules": sorted(rules, key=lambda r: json.dumps(r, sort_keys=True, default=str)),
            "releases": {name: row.get("blob_sha") for name, row in sorted(self.releases.items())},
            "shutoffs": sorted(self.shutoffs),
            "pins": sorted((k, v["mapping"]) for k, v in self.pins.items()),
        }

    def fingerprint(self) -> str:
        """A stable hash of the view's content (rules, releases, shutoffs, pins)."""
        canonical = json.dumps(self.content(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def live_view(state: Catalog, channel: str) -> ChannelView:
    rules = {i: dict(r) for i, r in state.rules.items() if _rule_on(r, channel)}
    return _finish(state, channel, channel, rules, dict(state.shutoffs), dict(state.pins))


def derived_view(state: Catalog, live: str, test: str | None = None) -> ChannelView:
    """The derived view of ``test`` (a test channel of ``live``) at the state's position."""
    rules = {i: dict(r) for i, r in state.rules.items()}
    shutoffs = dict(state.shutoffs)
    pins = dict(state.pins)
    overlays: list[dict[str, Any]] = []
    release_changes: list[dict[str, Any]] = []
    for sc in state.pending():
        kind, row = sc["kind"], sc["row"]
        if kind == "rules":
            rule_id = (
                PENDING_RULE_ID_BASE + sc["sc_id"]
                if sc["change_type"] == "insert"
                else int(sc["target"])
            )
            old = rules.get(rule_id)
            if not (_rule_on(old, live) or _rule_on(row, live)):
                continue
            if sc["change_type"] == "delete":
                rules.pop(rule_id, None)
            else:
                rules[rule_id] = {**(row or {}), "rule_id": rule_id, "data_version": None}
            overlays.append(sc)
        elif kind == "releases":
            release_changes.append(sc)
        elif kind == "emergency_shutoff" and _key_part(sc, 1) == live:
            key = (_key_part(sc, 0), _key_part(sc, 1))
            if sc["change_type"] == "delete":
                shutoffs.pop(key, None)
            else:
                shutoffs[key] = {**(row or {}), "data_version": None}
            overlays.append(sc)
        elif kind == "pinnable_releases" and _key_part(sc, 1) == live:
            key = (_key_part(sc, 0), _key_part(sc, 1), _key_part(sc, 2))
            if sc["change_type"] == "delete":
                pins.pop(key, None)
            else:
                pins[key] = {**(row or {}), "data_version": None}
            overlays.append(sc)
    channel = test or live
    on_channel = {i: r for i, r in rules.items() if _rule_on(r, live) or _rule_on(r, channel)}
    view = _finish(state, channel, live, on_channel, shutoffs, pins)
    for sc in release_changes:  # only releases the overlaid rules map to
        name = sc["target"]
        if name in _mapped_names(on_channel):
            view.release_blobs[name] = None if sc["change_type"] == "delete" else sc["row"]["data"]
            if sc["change_type"] == "delete":
                view.releases.pop(name, None)
            else:
                view.releases[name] = {
                    "name": name,
                    "product": sc["row"]["product"],
                    "read_only": sc["row"]["read_only"],
                    "data_version": None,
                    "version": None,
                    "blob_sha": blob_sha(sc["row"]["data"]),
                    "scheduled": sc["sc_id"],
                }
            overlays.append(sc)
    view.overlays = sorted(overlays, key=lambda sc: (_order(sc), sc["sc_id"]))
    return view


def served_test_view(state: Catalog, live: str, test: str) -> ChannelView:
    """The derived view of test channel ``test`` as the serving index answers it.

    A request on the test channel is evaluated as a request on the live channel,
    so the view's rules (all of which apply to one or the other) match it whatever
    their channel, and its shutoffs and pins count for it too; the request keeps
    its own channel for everything else (download URLs per channel). Rules a
    pending insert would create have no data_version yet: ``unknown``, as headers
    say it.
    """
    view = derived_view(state, live, test)
    rules = {
        rule_id: {
            **row,
            "channel": None,
            "data_version": "unknown" if row.get("data_version") is None else row["data_version"],
        }
        for rule_id, row in view.rules.items()
    }
    shutoffs = {**view.shutoffs, **{(p, test): r for (p, c), r in view.shutoffs.items()}}
    pins = {**view.pins, **{(p, test, v): r for (p, c, v), r in view.pins.items()}}
    return replace(view, rules=rules, shutoffs=shutoffs, pins=pins)


def view_of(
    state: Catalog, channel: str, suffixes: tuple[str, ...] = DEFAULT_TEST_SUFFIXES
) -> ChannelView:
    """The view a client on ``channel`` gets: derived for a derived test channel, else
    live (a hand-kept test channel is answered as any channel)."""
    live = derived_from(state, channel, suffixes)
    return derived_view(state, live, channel) if live else live_view(state, channel)


def _order(sc: dict[str, Any]) -> str:
    return sc["condition"].get("when") or "~"


def _key_part(sc: dict[str, Any], index: int) -> str:
    parts = sc["target"].split("/")
    return parts[index] if index < len(parts) else ""


def _mapped_names(rules: dict[int, dict[str, Any]]) -> set[str]:
    return {r[c] for r in rules.values() for c in ("mapping", "fallbackMapping") if r.get(c)}


def _finish(
    state: Catalog,
    channel: str,
    live: str,
    rules: dict[int, dict[str, Any]],
    shutoffs: dict[tuple[str, str], dict[str, Any]],
    pins: dict[tuple[str, str, str], dict[str, Any]],
) -> ChannelView:
    names = _mapped_names(rules) | {p["mapping"] for k, p in pins.items() if k[1] == live}
    return ChannelView(
        channel=channel,
        live_channel=live,
        position=state.position,
        rules=rules,
        shutoffs={k: v for k, v in shutoffs.items() if k[1] in (live, channel)},
        pins={k: v for k, v in pins.items() if k[1] in (live, channel)},
        releases={n: dict(state.releases[n]) for n in sorted(names) if n in state.releases},
    )
