"""Hand-kept test channels: a Balrog snapshot that keeps some by hand, requests to try
on it, and what Balrog answers them (plain matching over every rule: ``SnapshotView``,
which the recorded vectors hold to Balrog's answers).

The snapshot is the fixture plus rules that name a test channel on their own: the
exact name (``release-cdntest``, ``esr-localtest``) or a glob that matches it but
not its live channel (``release-cdn*``, ``beta-cdn*``); ``*test`` is no glob in
Balrog (only a trailing ``*`` is), so it names the channel ``*test`` alone.
``release-localtest`` and ``beta-localtest`` stay derived.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.evaluate import Response, ServingView, SnapshotView, evaluate
from rulelog.domain.serving.request import parse_url
from rulelog.projections.serving import LiveIndex, ServingState
from rulelog.projections.state import Catalog, blob_sha
from tests.conftest import DATA

_RULE = {"backgroundRate": 100, "update_type": "minor"}
HAND_KEPT_RULES: list[dict[str, Any]] = [
    {
        **_RULE,
        "rule_id": 80,
        "alias": "cdntest-by-hand",
        "product": "Firefox",
        "channel": "release-cdntest",
        "priority": 95,
        "mapping": "Firefox-121.0-build1",
        "comment": "kept by hand, below the release rules",
    },
    {
        **_RULE,
        "rule_id": 81,
        "product": "Firefox",
        "channel": "release-cdn*",
        "priority": 300,
        "version": "<116.0",
        "mapping": "Firefox-121.0-build1",
        "comment": "glob: cdn only",
    },
    {
        **_RULE,
        "rule_id": 82,
        "product": "Thunderbird",
        "channel": "esr-localtest",
        "priority": 60,
        "mapping": "Thunderbird-115.6.0-build1",
    },
    {
        **_RULE,
        "rule_id": 83,
        "product": "Firefox",
        "channel": "beta-cdn*",
        "priority": 90,
        "mapping": "Firefox-121.0-build1",
    },
    {
        **_RULE,
        "rule_id": 84,
        "product": "Firefox",
        "channel": "*test",
        "priority": 1000,
        "mapping": "Firefox-winxp-desupport",
        "comment": "a literal channel name in Balrog",
    },
]
#: Test channel -> the rules that keep it by hand in the snapshot.
HAND_KEPT = {"release-cdntest": (80, 81), "esr-localtest": (82,), "beta-cdntest": (83,)}
DERIVED = ("release-localtest", "beta-localtest")

_UPDATE = (
    "/update/6/{product}/{version}/20231116134553/{target}/en-US/{channel}/"
    "Windows_NT%2010.0.0.0.22631.2861%20(x64)/ISET:SSE4_2,MEM:16384/default/default/"
    "update.xml{query}"
)
_TARGETS = ("WINNT_x86_64-msvc-x64", "Linux_x86_64-gcc3")


def urls(channels: Iterable[str]) -> list[str]:
    """Update requests on ``channels``: Firefox at several versions (forced and not),
    Thunderbird, both platforms."""
    found = []
    for channel in channels:
        for target in _TARGETS:
            for version in ("110.0", "115.0", "120.0"):
                for query in ("", "?force=1"):
                    found.append(
                        _UPDATE.format(
                            product="Firefox",
                            version=version,
                            target=target,
                            channel=channel,
                            query=query,
                        )
                    )
            found.append(
                _UPDATE.format(
                    product="Thunderbird", version="102.0", target=target, channel=channel, query=""
                )
            )
    return found


def hand_kept_snapshot() -> dict[str, Any]:
    snapshot = json.loads((DATA / "fixture.json").read_text())
    snapshot["rules"] += copy.deepcopy(HAND_KEPT_RULES)
    return snapshot


def catalog_of(snapshot: Mapping[str, Any]) -> Catalog:
    """The state a fresh import of ``snapshot`` folds to (every data_version 1)."""
    return Catalog(
        position=1,
        rules={r["rule_id"]: {**r, "data_version": 1} for r in snapshot["rules"]},
        releases={
            r["name"]: {
                "name": r["name"],
                "product": r["product"],
                "read_only": False,
                "data_version": 1,
                "version": 1,
                "blob_sha": blob_sha(r["data"]),
            }
            for r in snapshot["releases"]
        },
        shutoffs={
            (s["product"], s["channel"]): {**s, "data_version": 1}
            for s in snapshot.get("emergency_shutoffs", [])
        },
        pins={
            (p["product"], p["channel"], p["version"]): {**p, "data_version": 1}
            for p in snapshot.get("pinnable_releases", [])
        },
    )


def index_of(state: Catalog, blobs: Mapping[str, Mapping[str, Any]]) -> LiveIndex:
    """The serving index the server builds from ``state``, blobs taken from ``blobs``."""
    serving = ServingState(lambda name, version: blobs[name])
    serving.catalog = state
    serving._publish()
    return serving.index


def oracle(state: Catalog, blobs: Mapping[str, Mapping[str, Any]]) -> SnapshotView:
    """Balrog over ``state``'s live rows: plain matching, pending changes ignored."""
    return SnapshotView(
        state.rules.values(),
        [{"name": n, "product": r["product"], "data": blobs[n]} for n, r in state.releases.items()],
        [{"product": p, "channel": c} for p, c in state.shutoffs],
        [
            {"product": p, "channel": c, "version": v, "mapping": row["mapping"]}
            for (p, c, v), row in state.pins.items()
        ],
    )


def answer(url: str, view: ServingView | LiveIndex) -> tuple[int, str | None, str] | str:
    """(status, Rule-ID, body), or Balrog's 400 as the message; served as the server
    serves (an index loads what a round found missing and evaluates again)."""
    request = parse_url(url)
    response: Response | None = None
    try:
        if isinstance(view, LiveIndex):
            for _ in range(5):
                narrowed = view.for_request(request)
                response = evaluate(request, narrowed, rng=lambda: 0)
                if not narrowed.missing:
                    break
                view.load_missing(narrowed.missing)
        else:
            response = evaluate(request, view, rng=lambda: 0)
    except Invalid as error:
        return f"400 {error}"
    assert response is not None
    return response.status, response.rule_id, response.body
