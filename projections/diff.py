"""Differences between two states, two views, or a live channel and its test channel.

``diff_tables`` compares anything holding Balrog's four tables -- a whole
``Catalog`` or one ``ChannelView`` -- row by row and field by field, with
releases compared by content (``blob_sha``, product, read_only), never by
version. ``live_test_diff`` compares a live channel with one of its derived
test channels and names, for every difference, the pending change(s) that
cause it: by construction a test channel differs from its live channel by
exactly the pending changes that touch it, and anything else (an explicit
rule for the test channel's name) is reported as unexplained.
``sync_status`` does that for every live channel, with each pending change's
signoffs against the ``required`` recorded when it was scheduled; and
``restore_channel`` schedules the rule changes that undo a channel's diff
since a past time, so a rollback goes through the same signoff workflow; a
deleted rule comes back exactly as it was (``restores``), even one the admin
API would no longer accept from a client (a rule without a mapping).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rulelog.domain.errors import Conflict, Invalid
from rulelog.projections.history import field_changes, recorded_times, signoff_status
from rulelog.projections.state import Catalog, blob_sha
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import (
    PENDING_RULE_ID_BASE,
    derived_channels_of,
    derived_view,
    live_channel_of,
    live_view,
    view_of,
)

Row = dict[str, Any]
RELEASE_FIELDS = ("name", "product", "read_only", "blob_sha")
MAPPING_COLUMNS = ("mapping", "fallbackMapping")


class Tables(Protocol):
    """Balrog's tables as a ``Catalog`` and a ``ChannelView`` both hold them."""

    rules: dict[int, Row]
    releases: dict[str, Row]
    shutoffs: dict[tuple[str, str], Row]
    pins: dict[tuple[str, str, str], Row]


def release_row(row: Row | None) -> Row | None:
    """A release as it compares: content, not version (``data_version`` kept aside)."""
    if row is None:
        return None
    content = {**row, "blob_sha": row.get("blob_sha") or blob_sha(row.get("data"))}
    return {k: content.get(k) for k in RELEASE_FIELDS}


def _compare(
    old: dict[Any, Row], new: dict[Any, Row], name: str = "key", shape: Any = dict
) -> dict[str, list[Row]]:
    added = [shape(new[k]) for k in sorted(new.keys() - old.keys(), key=str)]
    removed = [shape(old[k]) for k in sorted(old.keys() - new.keys(), key=str)]
    changed: list[Row] = []
    for key in sorted(old.keys() & new.keys(), key=str):
        fields = field_changes(shape(old[key]), shape(new[key]))
        if fields:
            versions = {"from": old[key].get("data_version"), "to": new[key].get("data_version")}
            identity = list(key) if isinstance(key, tuple) else key
            changed.append({name: identity, "data_version": versions, "changes": fields})
    return {"added": added, "removed": removed, "changed": changed}


def diff_tables(old: Tables, new: Tables) -> dict[str, dict[str, list[Row]]]:
    """Rules, releases, shutoffs and pins added, removed and changed from old to new."""

    def release(row: Row) -> Row:
        return {**(release_row(row) or {}), "data_version": row.get("data_version")}

    return {
        "rules": _compare(old.rules, new.rules, "rule_id"),
        "releases": _compare(old.releases, new.releases, "name", release),
        "shutoffs": _compare(old.shutoffs, new.shutoffs),
        "pins": _compare(old.pins, new.pins),
    }


def stamp(timeline: Timeline, position: int) -> Row:
    return {"position": position, "time": recorded_times(timeline, [position])[position]}


def diff_states(
    timeline: Timeline, at_from: str, at_to: str | None = None, channel: str | None = None
) -> Row:
    """What changed between the states at two times (of one channel's view, if given)."""
    timeline.catch_up()
    first, second = timeline.resolve(at_from), timeline.resolve(at_to)
    old, new = timeline.state_at(first), timeline.state_at(second)
    tables: tuple[Tables, Tables] = (old, new)
    if channel:
        tables = (view_of(old, channel), view_of(new, channel))
    return {
        "from": stamp(timeline, first),
        "to": stamp(timeline, second),
        "channel": channel,
        **diff_tables(*tables),
    }


# --------------------------------------------------------- pending changes


def _sc_old_new(state: Catalog, sc: Row) -> tuple[Row | None, Row | None]:
    """The row a pending change replaces (as it is now) and the row it writes."""
    kind, target, row = sc["kind"], str(sc["target"]), sc["row"]
    old: Row | None = None
    if kind == "rules" and target.isdigit():
        old = state.rules.get(int(target))
    elif kind == "releases":
        return release_row(state.releases.get(target)), release_row(row)
    elif kind == "emergency_shutoff":
        old = state.shutoffs.get(tuple(target.split("/")))
    elif kind == "pinnable_releases":
        old = state.pins.get(tuple(target.split("/")))
    if row is not None and kind == "rules" and old is not None:
        row = {**row, "rule_id": old["rule_id"]}
    return old, row


def pending_change(state: Catalog, sc: Row) -> Row:
    """A pending change: what, when, the fields it changes, and its signoff status."""
    old, new = _sc_old_new(state, sc)
    return {
        "kind": sc["kind"],
        "sc_id": sc["sc_id"],
        "change_type": sc["change_type"],
        "target": sc["target"],
        "condition": sc["condition"],
        "scheduled_by": sc["scheduled_by"],
        "changes": field_changes(old, new),
        **signoff_status(sc["signoffs"], sc["required"]),
    }


def _ref(sc: Row) -> str:
    return f"{sc['kind']}/{sc['sc_id']}"


def _causes(state: Catalog, overlays: list[Row]) -> dict[tuple[str, Any], list[str]]:
    """(table, key) -> the pending changes that change that row of a test view."""
    causes: dict[tuple[str, Any], list[str]] = {}
    for sc in overlays:
        kind, target = sc["kind"], str(sc["target"])
        rows = [r for r in _sc_old_new(state, sc) if r]
        keys: list[tuple[str, Any]] = []
        if kind == "rules":
            rule_id = PENDING_RULE_ID_BASE + sc["sc_id"] if not target.isdigit() else int(target)
            keys.append(("rules", rule_id))
            names = {r.get(c) for r in rows for c in MAPPING_COLUMNS} - {None}
            keys += [("releases", name) for name in sorted(names)]
        elif kind == "releases":
            keys.append(("releases", target))
        elif kind == "emergency_shutoff":
            keys.append(("shutoffs", tuple(target.split("/"))))
        elif kind == "pinnable_releases":
            keys.append(("pins", tuple(target.split("/"))))
            keys += [("releases", r["mapping"]) for r in rows if r.get("mapping")]
        for key in keys:
            causes.setdefault(key, []).append(_ref(sc))
    return causes


def _key_of(table: str, item: Row) -> Any:
    if table in ("rules", "releases"):
        return item["rule_id" if table == "rules" else "name"]
    columns = ("product", "channel") if table == "shutoffs" else ("product", "channel", "version")
    return tuple(item["key"]) if "key" in item else tuple(item[c] for c in columns)


def live_test_diff(timeline: Timeline, live: str, test: str, at: str | None = None) -> Row:
    """The live view of ``live`` against the derived view of ``test``, each difference
    with the pending change(s) that cause it; ``unexplained`` should be empty unless
    rules or shutoffs name the test channel itself."""
    position = timeline.resolve(at)
    state = timeline.state_at(position)
    if live_channel_of(state, live) is not None:
        raise Invalid(f"live: {live} is a test channel of {live_channel_of(state, live)}")
    if live_channel_of(state, test) != live:  # derived or hand-kept (its rules: unexplained)
        raise Invalid(f"test: {test} is not a test channel of {live}", field="test")
    live_v, test_v = live_view(state, live), derived_view(state, live, test)
    differences = diff_tables(live_v, test_v)
    causes = _causes(state, test_v.overlays)
    unexplained: dict[str, list[Row]] = {}
    for table, sides in differences.items():
        for side, items in sides.items():
            for item in items:
                item["by"] = causes.get((table, _key_of(table, item)), [])
                if not item["by"]:
                    unexplained.setdefault(table, []).append({"side": side, **item})
    return {
        **stamp(timeline, position),
        "live": live,
        "test": test,
        "live_fingerprint": live_v.fingerprint(),
        "test_fingerprint": test_v.fingerprint(),
        "pending": [pending_change(state, sc) for sc in test_v.overlays],
        "differences": differences,
        "unexplained": unexplained,
    }


def live_channels(state: Catalog) -> list[str]:
    """Channels of live rules that are not test channels (globs left out), and mapped ones."""
    named = {r.get("channel") for r in state.rules.values()}
    plain = {c for c in named if c and "*" not in c and live_channel_of(state, c) is None}
    return sorted(plain | set(state.test_channels.values()))


def sync_status(timeline: Timeline, at: str | None = None) -> Row:
    """For every live channel: its test channels, and the pending changes that make
    them differ, each fully signed off (against its recorded ``required``) or not."""
    position = timeline.resolve(at)
    state = timeline.state_at(position)
    channels: list[Row] = []
    for live in live_channels(state):
        live_v, test_v = live_view(state, live), derived_view(state, live)
        pending = [pending_change(state, sc) for sc in test_v.overlays]
        channels.append(
            {
                "channel": live,
                "test_channels": derived_channels_of(state, live),
                "in_sync": not pending,
                "ready": all(p["signed_off"] for p in pending),
                "live_fingerprint": live_v.fingerprint(),
                "test_fingerprint": test_v.fingerprint(),
                "pending": pending,
            }
        )
    return {**stamp(timeline, position), "channels": channels}


# ----------------------------------------------------------------- restore


@dataclass(frozen=True)
class RestoreStep:
    """One scheduled change of a restore: back to the rule as it was at T."""

    change_type: str
    rule_id: int | None  # the rule now (None: a deleted rule comes back with a new id)
    row: Row  # as given to ``schedule_change``
    data_version: int | None
    changes: dict[str, dict[str, Any]]
    #: For a deleted rule brought back: the rule and data_version it had at T, so the
    #: row is validated as the stored row it was, not as a client's request.
    restores: Row | None = None


_ORDER = {"delete": 0, "update": 1, "insert": 3}


def plan_restore(now: Catalog, then: Catalog, channel: str) -> list[RestoreStep]:
    """The changes that make ``channel``'s live rules now equal to those ``then``.

    Rules on the channel then or now are concerned: one that did not exist
    then is deleted, one deleted since is inserted again, any other is
    updated back (which also moves a rule back to where it was). Deletions
    come first and alias-claiming updates and inserts last, so that aliases
    are freed before they are claimed again.
    """
    concerned = set(live_view(now, channel).rules) | set(live_view(then, channel).rules)
    steps: list[RestoreStep] = []
    for rule_id in sorted(concerned):
        old, current = then.rules.get(rule_id), now.rules.get(rule_id)
        fields = {k: v for k, v in (old or {}).items() if k not in ("rule_id", "data_version")}
        if old is None and current is not None:
            row, change_type = {"rule_id": rule_id}, "delete"
        elif current is None:
            row, change_type = fields, "insert"
        elif field_changes(current, old):
            row, change_type = {**fields, "rule_id": rule_id}, "update"
        else:
            continue
        steps.append(
            RestoreStep(
                change_type=change_type,
                rule_id=rule_id if current is not None else None,
                row=row,
                data_version=current["data_version"] if current is not None else None,
                changes=field_changes(current, old),
                restores=(
                    {"rule_id": rule_id, "data_version": old["data_version"]}
                    if change_type == "insert" and old is not None
                    else None
                ),
            )
        )

    def order(step: RestoreStep) -> tuple[int, int]:
        claims = step.change_type == "update" and "alias" in step.changes and step.row["alias"]
        return (_ORDER[step.change_type] + (1 if claims else 0), step.rule_id or 0)

    return sorted(steps, key=order)


def check_restorable(now: Catalog, channel: str, steps: list[RestoreStep]) -> None:
    """Refuse while a concerned rule or the channel has a pending rule change,
    or when the rules restored would share an alias with a rule left as it is."""
    concerned = {str(s.rule_id) for s in steps if s.rule_id is not None}
    targeting = {sc["sc_id"] for sc in now.pending() if sc["target"] in concerned}
    touching = {sc["sc_id"] for sc in derived_view(now, channel).overlays}
    busy = sorted(
        sc["sc_id"]
        for sc in now.pending()
        if sc["kind"] == "rules" and sc["sc_id"] in targeting | touching
    )
    if busy:
        raise Conflict(
            f"cannot restore {channel}: pending rule change(s) {', '.join(map(str, busy))} "
            "concern it; enact or cancel them first",
            sc_ids=busy,
        )
    final = {i: r.get("alias") for i, r in now.rules.items()}
    for number, step in enumerate(steps, start=1):
        if step.change_type == "delete":
            final.pop(step.rule_id or 0, None)
        else:  # an inserted rule has no id yet: a negative placeholder
            final[step.rule_id or -number] = step.row.get("alias")
    aliases = [a for a in final.values() if a]
    clashes = sorted({a for a in aliases if aliases.count(a) > 1})
    if clashes:
        raise Conflict(f"cannot restore {channel}: alias {', '.join(clashes)} would be taken twice")
