"""Checking expectations on the live and test views, and what blocks a signoff.

Each expectation's request is evaluated by the serving code itself
(``domain.evaluate`` over the index ``projections.explain.index_of`` builds,
exactly as the server builds it): on the live view of its channel, and on
the derived test view of that channel (live plus every pending change that
touches it). The request keeps its own channel on the test view, so what is
compared is what the same client would get once the pending changes are
enacted. Background-rate dice are fixed so a rule's main mapping is what is
expected (a rate of 0 still serves the fallback).

A failure on the test view is blamed on the pending changes that put the
rules, release, shutoff or pin involved in place (all of the view's changes
if none can be singled out); a signoff of one of those is refused unless the
signer gives an override reason (``checked_signoff``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rulelog.domain.errors import Conflict, Invalid
from rulelog.domain.serving.evaluate import evaluate
from rulelog.domain.workflow.expectations import judge, request_of
from rulelog.projections.explain import LOAD_ROUNDS, index_of
from rulelog.projections.serving import LiveIndex, RequestView
from rulelog.projections.state import Catalog
from rulelog.projections.views import (
    DEFAULT_TEST_SUFFIXES,
    PENDING_RULE_ID_BASE,
    derived_channels_of,
    live_channel_of,
)

_APP_VERSION = re.compile(r'<update\b[^>]*\bappVersion="([^"]*)"')
ScKey = tuple[str, int]


class _PinSeen(RequestView):
    """A request view that remembers the release a pin redirected to."""

    __slots__ = ("pinned",)

    def __init__(self, index: LiveIndex, channel: str, build_target: str) -> None:
        super().__init__(index, channel, build_target)
        self.pinned: str | None = None

    def pin_mapping(self, product: str, channel: str, version: str) -> str | None:
        found = super().pin_mapping(product, channel, version)
        self.pinned = found or self.pinned
        return found


def answer(index: LiveIndex, url: str) -> dict[str, Any]:
    """What ``url`` gets from ``index`` (a live or derived index): update or not, the
    release and its version, the rule chosen."""
    request = request_of(url)
    index = index.index_for(request.channel)
    for _ in range(LOAD_ROUNDS):
        view = _PinSeen(index, request.channel, request.build_target)
        try:
            response = evaluate(request, view, rng=lambda: 0)
        except Invalid as exc:
            return {"update": False, "release": None, "version": None, "rule_id": None,
                    "error": str(exc)}  # fmt: skip
        if not view.missing:
            break
        index.load_missing(view.missing)
    rule_id = int(response.rule_id) if (response.rule_id or "").isdigit() else None
    version = _APP_VERSION.search(response.body)
    rule = index.rules_by_id.get(rule_id) if rule_id is not None else None
    release = None
    if version is not None and rule is not None:
        rate = rule.get("backgroundRate")
        release = rule.get("fallbackMapping") if rate == 0 else rule.get("mapping")
        release = view.pinned or release
    return {
        "update": version is not None,
        "release": release,
        "version": version.group(1) if version else None,
        "rule_id": rule_id,
        **({"problem": response.problem} if response.problem else {}),
    }


def _test_index(index: LiveIndex, state: Catalog, live: str) -> LiveIndex:
    # Any derived test channel of ``live`` names its test view (all show the same
    # pending changes); if every suffixed one is hand-kept, the first suffix still does.
    names = derived_channels_of(state, live) or [live + DEFAULT_TEST_SUFFIXES[0]]
    return index.test_view_index(live, names[0])


def _responsible(test: LiveIndex, got: dict[str, Any], live_got: dict[str, Any]) -> list[ScKey]:
    """The pending changes of a test view behind an answer that differs from live."""
    overlays = test.view.overlays if test.view is not None else []
    rules = {got["rule_id"], live_got["rule_id"]} - {None}
    releases = {got["release"], live_got["release"]} - {None}
    picked = []
    for sc in overlays:
        if sc["kind"] == "rules":
            rule_id = (
                PENDING_RULE_ID_BASE + sc["sc_id"] if sc["change_type"] == "insert"
                else int(sc["target"])
            )  # fmt: skip
            if rule_id in rules:
                picked.append(sc)
        elif sc["kind"] != "rules" and (sc["kind"] != "releases" or sc["target"] in releases):
            picked.append(sc)
    return [(sc["kind"], sc["sc_id"]) for sc in picked or overlays]


def check_state(
    app: Any,
    state: Catalog,
    channel: str | None = None,
    test: bool = True,
    names: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Every expectation (of ``channel``, or named) of ``state`` on live and, if ``test``,
    on the test view of its channel; sorted by product, channel, name."""
    index = index_of(state, app)
    wanted = set(names) if names is not None else None
    tests: dict[str, LiveIndex] = {}
    results = []
    for exp in sorted(state.expectations.values(),
                      key=lambda e: (e["product"], e["channel"], e["name"])):  # fmt: skip
        if channel is not None and exp["channel"] != channel:
            continue
        if wanted is not None and exp["name"] not in wanted:
            continue
        live_got = answer(index, exp["url"])
        result = {
            **{k: exp[k] for k in ("name", "product", "channel", "url", "expect")},
            "live": {**live_got, "passed": judge(exp["expect"], live_got, exp["product"])},
        }
        if test and not live_channel_of(state, exp["channel"]):
            if exp["channel"] not in tests:
                tests[exp["channel"]] = _test_index(index, state, exp["channel"])
            test_index = tests[exp["channel"]]
            got = answer(test_index, exp["url"])
            passed = judge(exp["expect"], got, exp["product"])
            blamed = [] if passed else _responsible(test_index, got, live_got)
            result["test"] = {
                **got,
                "passed": passed,
                "responsible": [{"kind": k, "sc_id": i} for k, i in blamed],
            }
        results.append(result)
    return results


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "checked": len(results),
        "failing_live": sum(not r["live"]["passed"] for r in results),
        "failing_test": sum(not r.get("test", {"passed": True})["passed"] for r in results),
    }


def describe(got: dict[str, Any]) -> str:
    rule_id = got["rule_id"]
    rule = (
        f"rule {rule_id}" if rule_id is None or rule_id < PENDING_RULE_ID_BASE
        else f"the rule rules change {rule_id - PENDING_RULE_ID_BASE} inserts"
    )  # fmt: skip
    if not got["update"]:
        return "no update" + (f" ({rule})" if rule_id else "")
    return f"{got['release']} {got['version']} ({rule})"


def blamed_summary(app: Any, state: Catalog, kind: str, sc_id: int) -> list[str]:
    """One line per expectation this pending change makes fail on a test view."""
    return [_failure_line(r) for r in failures_blamed_on(app, state, kind, sc_id)]


def failing_by_change(app: Any, state: Catalog) -> dict[ScKey, list[str]]:
    """For each pending change, the expectations it makes fail on a test view (every
    expectation checked once, on live and on its channel's test view)."""
    if not state.expectations:
        return {}
    failing: dict[ScKey, list[str]] = {}
    for result in check_state(app, state):
        test = result.get("test")
        if test is None or test["passed"]:
            continue
        for blamed in test["responsible"]:
            failing.setdefault((blamed["kind"], blamed["sc_id"]), []).append(result["name"])
    return failing


def failures_blamed_on(
    app: Any, state: Catalog, kind: str, sc_id: int
) -> list[dict[str, Any]]:
    """The expectations failing on a test view that this pending change is to blame for."""
    if not state.expectations:
        return []
    return [
        r
        for r in check_state(app, state)
        if "test" in r
        and not r["test"]["passed"]
        and {"kind": kind, "sc_id": sc_id} in r["test"]["responsible"]
    ]


def refuse_unless_overridden(
    failures: list[dict[str, Any]], kind: str, sc_id: int, override_reason: str | None
) -> None:
    """The business rule: a change that makes an expectation fail is not signed off
    without a reason for overriding it."""
    if not failures:
        return
    if override_reason is not None and override_reason.strip():
        return
    parts = [_failure_line(r) for r in failures]
    raise Conflict(
        f"{kind} change {sc_id} makes expectations fail on the test view of"
        f" {', '.join(sorted({r['channel'] for r in failures}))}: {'; '.join(parts)}"
        " (sign off with an override reason to proceed)",
        failures=[r["name"] for r in failures],
    )


def _failure_line(result: dict[str, Any]) -> str:
    return f"{result['name']} expects {_expected(result['expect'])} but gets " + describe(
        result["test"]
    )


def _expected(expect: dict[str, Any]) -> str:
    (key, value), = expect.items()
    return {"no_update": "no update"}.get(key) or f"{key.replace('_', ' ')} {value}"


def state_at(timeline: Any, at: str | None) -> Catalog:
    """The state at ``at`` (now if None), the log folded up to it first."""
    timeline.catch_up()
    return timeline.state_at(timeline.resolve(at))


def listed(state: Catalog, channel: str | None = None) -> list[dict[str, Any]]:
    """The expectations of ``state``, by product, channel and name."""
    rows = [e for e in state.expectations.values() if channel is None or e["channel"] == channel]
    return sorted(rows, key=lambda e: (e["product"], e["channel"], e["name"]))
