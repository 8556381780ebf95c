"""What a change would do to real traffic: sampled requests answered before and after.

The state "after" is the live state with the change enacted: a rule inserted,
changed or deleted, a release blob replaced, a shutoff or pin added or removed,
and the scheduled change itself gone from the pending list. Both states are
answered by the serving code (``projections.expectations.answer`` over the index
``projections.explain.index_of`` builds), so a request on a derived test channel
is answered from its test view (live plus every pending change of its live
channel) in both, as the server would answer it.

A request *moves* when what it is offered changes: update or not, the release,
or the version. Moves are counted by (from release → to release) and by the
request's product, version, OS and locale, each with a few example targets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.domain.workflow.expectations import request_of
from rulelog.projections.expectations import answer
from rulelog.projections.explain import index_of
from rulelog.projections.serving import LiveIndex
from rulelog.projections.state import Catalog, blob_sha
from rulelog.projections.views import PENDING_RULE_ID_BASE

Row = dict[str, Any]
#: Example targets kept per group.
EXAMPLES = 3
#: The request fields moves are grouped by.
GROUPS = ("product", "version", "os_version", "locale")


def _key_parts(target: str | None) -> list[str]:
    return (target or "").split("/")


def enacted(state: Catalog, changes: Iterable[Row]) -> tuple[Catalog, dict[str, Any]]:
    """``state`` once ``changes`` (scheduled-change rows, or proposed ones shaped the
    same) are enacted, and the release blobs they replace (None: deleted)."""
    rules = dict(state.rules)
    releases = dict(state.releases)
    shutoffs = dict(state.shutoffs)
    pins = dict(state.pins)
    scheduled = dict(state.scheduled)
    blobs: dict[str, Any] = {}
    for sc in changes:
        kind, change_type, row = sc["kind"], sc["change_type"], sc.get("row") or {}
        scheduled.pop((kind, sc.get("sc_id")), None)
        deleting = change_type == "delete"
        if kind == "rules":
            rule_id = (
                PENDING_RULE_ID_BASE + (sc.get("sc_id") or 0)
                if change_type == "insert"
                else int(sc["target"])
            )
            if deleting:
                rules.pop(rule_id, None)
            else:
                rules[rule_id] = {**row, "rule_id": rule_id, "data_version": None}
        elif kind == "releases":
            name = sc.get("target") or row["name"]
            if deleting:
                releases.pop(name, None)
                blobs[name] = None
            else:
                releases[name] = {
                    "name": name,
                    "product": row["product"],
                    "read_only": row.get("read_only", False),
                    "data_version": None,
                    "version": None,
                    "blob_sha": blob_sha(row["data"]),
                }
                blobs[name] = row["data"]
        elif kind in ("emergency_shutoff", "pinnable_releases"):
            table = shutoffs if kind == "emergency_shutoff" else pins
            columns = ("product", "channel", "version")[: 2 if table is shutoffs else 3]
            key = tuple(row[c] for c in columns) if row else tuple(_key_parts(sc["target"]))
            if deleting:
                table.pop(key, None)  # type: ignore[arg-type]
            else:
                table[key] = {**row, "data_version": None}  # type: ignore[index]
        else:
            raise Invalid(f"kind: {kind} changes no answer; impact covers rules, releases, "
                          "emergency_shutoff and pinnable_releases", field="kind")  # fmt: skip
    after = replace(
        state, rules=rules, releases=releases, shutoffs=shutoffs, pins=pins, scheduled=scheduled
    )
    return after, blobs


def _offered(got: Mapping[str, Any]) -> tuple[Any, ...]:
    return (got["update"], got["release"], got["version"])


def _label(got: Mapping[str, Any]) -> str:
    return got["release"] if got["update"] and got["release"] else "no update"


def touched_products(state: Catalog, changes: Iterable[Row]) -> set[str] | None:
    """The products whose requests ``changes`` can move (None: any product's).

    A rule, shutoff or pin only answers requests of its product (before and after);
    a release's blob answers whichever rules map to it, and a superblob names other
    releases, so a release change is not narrowed."""
    products: set[str] = set()
    for sc in changes:
        if sc["kind"] == "releases":
            return None
        old = None
        if sc["kind"] == "rules" and sc["change_type"] != "insert":
            old = state.rules.get(int(sc["target"]))
        for row in (old, sc.get("row")):
            if row and row.get("product"):
                products.add(row["product"])
        if sc["kind"] != "rules" and sc.get("target"):
            products.add(_key_parts(sc["target"])[0])
    return products


def compare(
    before: LiveIndex,
    after: LiveIndex,
    targets: Iterable[str],
    products: set[str] | None = None,
) -> Row:
    """How many of ``targets`` get a different offer from ``after`` than from ``before``.

    Each distinct target is answered once per index (samples repeat a lot), and only
    targets of ``products`` are answered at all (None: every target)."""
    moves: Counter[tuple[str, str]] = Counter()
    by_field: dict[str, Counter[str]] = {name: Counter() for name in GROUPS}
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    replayed = unreadable = 0
    for target, count in Counter(targets).items():
        try:
            request = request_of(target)
        except Invalid:
            unreadable += count
            continue
        replayed += count
        if products is not None and request.product not in products:
            continue
        try:
            old, new = answer(before, target), answer(after, target)
        except Invalid:  # an answer Balrog refuses (an unknown locale): before and after
            continue
        if _offered(old) == _offered(new):
            continue
        move = (_label(old), _label(new))
        moves[move] += count
        if len(examples[move]) < EXAMPLES:
            examples[move].extend([target] * min(count, EXAMPLES - len(examples[move])))
        for name in GROUPS:
            by_field[name][str(getattr(request, name) or "")] += count
    return {
        "replayed": replayed,
        "unreadable": unreadable,
        "moved": sum(moves.values()),
        "moves": [
            {"from": old, "to": new, "requests": count, "examples": examples[(old, new)]}
            for (old, new), count in moves.most_common()
        ],
        "by": {name: dict(counts.most_common()) for name, counts in by_field.items()},
    }


def impact_of(app: Any, state: Catalog, changes: list[Row], targets: Iterable[str]) -> Row:
    """Replay ``targets`` on ``state`` and on ``state`` with ``changes`` enacted."""
    before = index_of(state, app)
    after_state, blobs = enacted(state, changes)
    after = index_of(after_state, app)
    after = replace(after, overrides={**after.overrides, **blobs})
    return compare(before, after, targets, touched_products(state, changes))
