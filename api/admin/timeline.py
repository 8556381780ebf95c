"""``/api/timeline/*`` and ``/api/uptake``: rulelog's time travel and audit over HTTP.

Balrog has no equivalent: these are the HTTP face of the CLI's projection
queries (``rulelog at``, ``changes``, ``diff``, ``sync-status``, ``explain``,
``restore``, ``uptake report``). Each handler calls exactly the function the
CLI calls, on the store's own timeline (``api.config.open_timeline``), so both
give the same answer for the same ``at``. Time parameters take what the CLI
takes -- ISO 8601 UTC, epoch milliseconds, ``position:N`` -- and are resolved
to a position first, each named in its own error, so one request sees one
state however the log moves meanwhile.

Reads need no token, like Balrog's GETs (the audit feed shows grants, roles
and tokens only to a caller with ``permission``/``view``); ``restore`` (which only schedules,
through the normal signoff workflow) and uptake reports need a verified
identity, and the domain checks its permissions.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from rulelog.api.admin.access import may_view_access
from rulelog.api.admin.deps import Actor, Service
from rulelog.api.admin.problems import Problem
from rulelog.api.admin.schemas import ProblemDoc
from rulelog.api.admin.timeline_schemas import (
    ChangeRow,
    Explanation,
    LiveTestDiff,
    ReleaseAt,
    RestoreBody,
    RestoreResult,
    RulesAt,
    StatesDiff,
    SyncStatus,
    TestChannels,
    UptakeBody,
    UptakeOut,
)
from rulelog.api.config import open_timeline
from rulelog.domain.errors import Invalid, NotFound
from rulelog.domain.serving.request import RouteNotFound, RouteRedirect
from rulelog.projections.at import channel_known, release_at, rules_at
from rulelog.projections.audit import KINDS, changes
from rulelog.projections.channels import list_test_channels
from rulelog.projections.diff import diff_states, live_test_diff, sync_status
from rulelog.projections.explain import explain, parse_headers
from rulelog.projections.timeline import Timeline
from rulelog.services.verification import restore_verified

router = APIRouter(tags=["timeline"])

AT_HELP = "ISO 8601 UTC time, epoch milliseconds or position:N [default: now]."
KIND_HELP = f"Only these kinds (repeatable): {', '.join(KINDS)}."
#: Every read can fail on a bad time (400) or on something that did not exist (404).
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "A bad time or parameter."},
    404: {"model": ProblemDoc, "description": "Unknown at that time."},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDoc, "description": "Bad input, or a conflicting pending change."},
    401: {"model": ProblemDoc, "description": "No verified identity."},
    403: {"model": ProblemDoc, "description": "The identity lacks the permission."},
    404: {"model": ProblemDoc, "description": "Unknown channel."},
}

_opening = threading.Lock()


def timeline_of(request: Request) -> Timeline:
    """The served store's timeline, opened once per store (tests swap the store)."""
    state = request.app.state
    with _opening:
        found: Timeline | None = getattr(state, "rulelog_timeline", None)
        if found is None or found.app is not state.service:
            found = open_timeline(state.service)
            state.rulelog_timeline = found
    return found


Past = Annotated[Timeline, Depends(timeline_of)]


def _answer(value: Any) -> Response:
    """JSON exactly as ``rulelog ... --json`` prints it (same encoder fallback)."""
    return Response(json.dumps(value, default=str), media_type="application/json")


def _position(timeline: Timeline, name: str, value: str | None) -> str | None:
    """``value`` resolved to ``position:N`` (None stays None: each function's default);
    a bad value is a 400 that names the parameter."""
    if value is None:
        return None
    try:
        return f"position:{timeline.resolve(value)}"
    except Invalid as error:
        detail = f"{name}: {str(error).removeprefix('at: ')}"
        raise Problem(400, detail, exception=detail) from None


def _require_channel(timeline: Timeline, channel: str, *positions: str | None) -> None:
    """404 unless something concerns ``channel`` at one of ``positions`` (None: now)."""
    resolved = [timeline.resolve(p) for p in positions]
    if not any(channel_known(timeline.state_at(p), channel) for p in resolved):
        where = " or ".join(str(p) for p in dict.fromkeys(resolved))
        raise NotFound(f"channel {channel} is unknown at position {where}", channel=channel)


@router.get(
    "/timeline/rules", response_model=RulesAt, responses=READ_ERRORS, summary="Rules at a time"
)
def timeline_rules(
    timeline: Past,
    at: str | None = Query(None, description=AT_HELP),
    channel: str | None = Query(
        None,
        description="Only this channel's view (a derived test channel: its derived view).",
    ),
) -> Response:
    """The rules in force at ``at``, like ``rulelog at T rules [--channel C]``."""
    position = _position(timeline, "at", at)
    return _answer(rules_at(timeline, position, channel or None, known_only=True))


@router.get(
    "/timeline/test-channels",
    response_model=TestChannels,
    responses=READ_ERRORS,
    summary="Test channels at a time: derived or hand-kept",
)
def timeline_test_channels(
    timeline: Past,
    at: str | None = Query(None, description=AT_HELP),
    live: str | None = Query(None, description="Only the test channels of this live channel."),
) -> Response:
    """Every test channel with its live channel, derived or hand-kept, and the rules that
    keep it so, like ``rulelog channels list [LIVE] --at T``."""
    return _answer(list_test_channels(timeline, _position(timeline, "at", at), live or None))


@router.get(
    "/timeline/releases/{name}",
    response_model=ReleaseAt,
    responses=READ_ERRORS,
    summary="A release at a time",
)
def timeline_release(
    name: str, service: Service, timeline: Past, at: str | None = Query(None, description=AT_HELP)
) -> Response:
    """The release and its blob as they stood, like ``rulelog at T releases NAME``."""
    return _answer(release_at(service, timeline, _position(timeline, "at", at), name))


@router.get(
    "/timeline/changes",
    response_model=list[ChangeRow],
    responses=READ_ERRORS,
    summary="The audit log",
)
def timeline_changes(
    request: Request,
    service: Service,
    timeline: Past,
    since: str | None = Query(None, description="From the state at this time [the start]."),
    until: str | None = Query(None, description="To the state at this time [now]."),
    product: str | None = Query(None, description="Rows of this product (and rows with none)."),
    channel: str | None = Query(None, description="Rows on this channel (and rows with none)."),
    by: str | None = Query(None, description="Only what this user did."),
    kind: list[str] = Query([], description=KIND_HELP),
) -> Response:
    """One row per change between two times, like ``rulelog changes``.

    ``product`` and ``channel`` filter rows over a range, where a channel may
    come and go, so an unmatched one gives fewer rows rather than a 404. Rows
    about permissions, roles and tokens are shown only to a caller holding
    ``permission``/``view`` (``api.admin.access``).
    """
    rows = changes(
        service,
        timeline,
        _position(timeline, "since", since),
        _position(timeline, "until", until),
        product=product,
        channel=channel,
        by=by,
        kinds=kind,
        with_access=may_view_access(request),
    )
    return _answer(rows)


@router.get(
    "/timeline/diff",
    response_model=StatesDiff | LiveTestDiff,
    responses=READ_ERRORS,
    summary="Differences between two times, or a live and a test channel",
)
def timeline_diff(
    timeline: Past,
    first: str | None = Query(None, alias="from", description="The earlier time."),
    to: str | None = Query(None, description="The later time [now]."),
    channel: str | None = Query(None, description="Compare this channel's view only."),
    live: str | None = Query(None, description="Compare live channel C ..."),
    test: str | None = Query(None, description="... with its test channel T (instead of times)."),
    at: str | None = Query(None, description="With live/test: " + AT_HELP),
) -> Response:
    """What changed between ``from`` and ``to``, like ``rulelog diff T1 [T2] [--channel C]``;
    or, given ``live`` and ``test``, how the test channel differs from the live one
    (``rulelog diff --live C --test T [--at T]``)."""
    if live or test:
        if not (live and test) or first or to or channel:
            raise Invalid("diff: give live and test [and at], or from [to] [channel]")
        position = _position(timeline, "at", at)
        _require_channel(timeline, live, position)
        return _answer(live_test_diff(timeline, live, test, position))
    if first is None or at is not None:
        raise Invalid("diff: give from [to] [channel], or live and test [and at]", field="from")
    start = _position(timeline, "from", first)
    stop = _position(timeline, "to", to) or f"position:{timeline.resolve(None)}"
    if channel:
        _require_channel(timeline, channel, start, stop)
    return _answer(diff_states(timeline, start or first, stop, channel or None))


@router.get(
    "/timeline/sync-status",
    response_model=SyncStatus,
    responses=READ_ERRORS,
    summary="Live channels against their test channels",
)
def timeline_sync_status(
    timeline: Past, at: str | None = Query(None, description=AT_HELP)
) -> Response:
    """Each live channel's test channels and the pending changes between them, each
    with its signoffs, like ``rulelog sync-status``."""
    return _answer(sync_status(timeline, _position(timeline, "at", at)))


@router.get(
    "/timeline/explain",
    response_model=Explanation,
    responses=READ_ERRORS,
    summary="Which rule answered an update request, and why",
)
def timeline_explain(
    service: Service,
    timeline: Past,
    url: str = Query(..., description="An update request path, e.g. /update/6/Firefox/..."),
    at: str | None = Query(None, description=AT_HELP),
    header: list[str] = Query([], description="A request header as NAME:VALUE (repeatable)."),
) -> Response:
    """The exact answer ``url`` got (or would have got) at ``at``: the rules that matched
    and why the others lost, the release, overlays, shutoffs and pins, and who put each
    in place -- like ``rulelog explain URL --at T``."""
    position = _position(timeline, "at", at)
    headers = parse_headers(header)
    try:
        return _answer(explain(service, timeline, url, position, headers))
    except RouteNotFound as error:
        detail = f"url: not an update request ({error})"
    except RouteRedirect as error:
        detail = f"url: repeated slashes; did you mean {error.context['location']}?"
    raise Problem(400, detail, exception=detail)


@router.post(
    "/timeline/restore",
    response_model=RestoreResult,
    responses=WRITE_ERRORS,
    summary="Schedule a rollback of a channel's rules",
)
def timeline_restore(
    service: Service, timeline: Past, changed_by: Actor, body: RestoreBody = Body(...)
) -> Response:
    """Schedule (never apply) the rule changes that make ``channel``'s live rules what
    they were at ``to``, like ``rulelog restore``: they go live only once signed off and
    enacted, as any other scheduled change. ``dry_run`` validates and schedules nothing."""
    to = _position(timeline, "to", body.to)
    _require_channel(timeline, body.channel, to, None)
    result = restore_verified(
        service,
        timeline,
        body.channel,
        to or body.to,
        changed_by,
        delay_minutes=body.delay,
        dry_run=body.dry_run,
    )
    return _answer(result)


@router.post("/uptake", response_model=UptakeOut, responses=WRITE_ERRORS, tags=["uptake"])
def report_uptake(service: Service, changed_by: Actor, body: UptakeBody = Body(...)) -> Response:
    """Record an uptake report, like ``rulelog uptake report``: changes scheduled on
    uptake become due when it reaches their threshold. Reporting may make changes go
    live, so it needs what enacting needs (``scheduled_change`` with ``enact``)."""
    try:
        uptake = service.report_uptake(body.product, body.channel, body.percent, changed_by)
    except Invalid as error:
        if error.field != "uptake":
            raise
        detail = f"percent: {str(error).removeprefix('uptake: ')}"  # the body's name for it
        raise Problem(400, detail, exception=detail) from None
    return _answer(
        {"product": uptake.product, "channel": uptake.channel, "percent": uptake.percent}
    )
