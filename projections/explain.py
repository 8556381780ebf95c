"""What would this client have got at T, and why.

``explain`` rebuilds the serving index of the state at T (live channel,
derived or hand-kept test channel, exactly as the server builds it; which of
them answered is part of the answer), evaluates the request
through the same code the server runs, and reports the answer with its
reasons: every rule that matched in priority order and why the others lost,
the release and the version of its blob, the scheduled changes overlaid, the
shutoff or pin that applied, and the events (position, time, actor) that put
each of those in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rulelog.domain import ids
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.evaluate import evaluate
from rulelog.domain.serving.matching import matching_rules
from rulelog.domain.serving.request import UpdateRequest, parse_url
from rulelog.projections.history import rule_history, sc_history, stream_of
from rulelog.projections.serving import LiveIndex, ServingState, app_loader
from rulelog.projections.state import Catalog
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import answered_by, as_test_channel

#: Rounds of "evaluate, load what was missing": a partial's from-release is
#: only known once the release itself is loaded.
LOAD_ROUNDS = 5


def index_of(state: Catalog, app: Any) -> LiveIndex:
    """The serving index of ``state``, as the server would have built it."""
    serving = ServingState(app_loader(app))
    serving.catalog = state
    serving._publish()
    return serving.index


def _answer(request: UpdateRequest, index: LiveIndex) -> Any:
    """Evaluate as the server does: load the blobs a round found missing, evaluate again."""
    for _ in range(LOAD_ROUNDS):
        view = index.for_request(request)
        response = evaluate(request, view)
        if not view.missing:
            break
        index.load_missing(view.missing)
    return response


def _made_by(
    app: Any, timeline: Timeline, aggregate_id: Any, position: int
) -> dict[str, Any] | None:
    """The last event of an aggregate at or before ``position``: who put it there."""
    events = [e for e in stream_of(app, aggregate_id) if e.position <= position]
    if not events:
        return None
    last = events[-1]
    moment = timeline.time_of(last.position)
    return {
        "position": last.position,
        "time": moment.isoformat() if moment else None,
        "actor": last.actor,
        "event": last.topic,
    }


def parse_headers(given: Iterable[str], option: str = "header") -> dict[str, str]:
    """Request headers given as ``NAME:VALUE`` strings (``option`` names them in errors)."""
    parsed: dict[str, str] = {}
    for header in given:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise Invalid(f"{option}: expected NAME:VALUE, got {header!r}", field=option)
        parsed[name.strip()] = value.strip()
    return parsed


def explain(
    app: Any,
    timeline: Timeline,
    url: str,
    at: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The exact response ``url`` would have received at ``at`` (default: now), and why."""
    timeline.catch_up()  # so the position answered at has its recorded time
    position = timeline.resolve(at)
    state = timeline.state_at(position)
    request = parse_url(url, headers)
    index = index_of(state, app)
    channel_index = index.index_for(request.channel)
    test = as_test_channel(state, request.channel)
    response = _answer(request, index)
    moment = timeline.time_of(position) if position else None

    candidates = channel_index.rule_table.candidates(request.product)
    matched = sorted(matching_rules(request, candidates), key=lambda r: (-r.priority, r.rule_id))
    chosen = matched[0] if matched else None
    rules = []
    for rule in matched:
        if rule is chosen:
            why = "chosen: highest priority" + (
                ", lowest rule_id among equals"
                if any(r.priority == rule.priority for r in matched if r is not rule)
                else ""
            )
        elif rule.priority == (chosen.priority if chosen else None):
            why = f"lost: same priority as rule {chosen.rule_id}, higher rule_id"  # type: ignore[union-attr]
        else:
            why = f"lost: lower priority than rule {chosen.rule_id}"  # type: ignore[union-attr]
        row = dict(rule.rule)
        rule_id = row.get("rule_id")
        origin = None
        if isinstance(rule_id, int) and rule_id in state.rules:
            origin = _made_by(app, timeline, ids.rule_id(rule_id), position)
        rules.append({"rule": row, "why": why, "put_in_place_by": origin})

    release_info = None
    if chosen is not None and chosen.rule.get("mapping"):
        name = chosen.rule["mapping"]
        row = channel_index.releases.get(name)
        if row is not None:
            release_info = {
                "name": name,
                "data_version": row.get("data_version"),
                "version": row.get("version"),
                "scheduled": name in channel_index.overrides,
                "put_in_place_by": _made_by(app, timeline, ids.release_id(name), position),
            }

    overlays = []
    view = channel_index.view
    for sc in view.overlays if view is not None else []:
        history = sc_history(app, timeline, sc["kind"], sc["sc_id"])
        overlays.append(
            {
                **{k: sc[k] for k in ("kind", "sc_id", "change_type", "target", "condition")},
                "signoffs": sc["signoffs"],
                "events": [
                    {k: step.get(k) for k in ("position", "time", "actor", "event")}
                    for step in history
                    if step.get("position", 0) <= position
                ],
            }
        )
    served_as = view.live_channel if view is not None else request.channel
    shutoff = next(
        (
            {"product": p, "channel": c}
            for (p, c) in channel_index.shutoffs
            if p == request.product and c in (request.channel, served_as)
        ),
        None,
    )
    if shutoff is not None:
        key = ids.shutoff_id(shutoff["product"], shutoff["channel"])
        shutoff["put_in_place_by"] = _made_by(app, timeline, key, position)
    pin = None
    if request.pin:
        mapping = channel_index.pin_mapping(request.product, request.channel, request.pin)
        pin = {"version": request.pin, "mapping": mapping}

    return {
        "position": position,
        "time": moment.isoformat() if moment else None,
        "url": url,
        "channel": request.channel,
        "live_channel": test.live if test is not None else request.channel,
        "test_channel": test is not None,
        "answered_by": answered_by(test),
        "hand_kept_by": [] if test is None or test.derived else list(test.kept_by),
        "response": {
            "status": response.status,
            "headers": {"Content-Type": response.content_type, **dict(response.headers)},
            "body": response.body,
            "problem": response.problem,
        },
        "matched_rules": rules,
        "release": release_info,
        "overlays": overlays,
        "emergency_shutoff": shutoff,
        "pin": pin,
    }


__all__ = ["explain", "index_of", "parse_headers", "rule_history"]
