"""``/ui/history``: the audit log, filtered, each event linking to its object as of then.

The rows are ``projections.audit.changes`` -- what ``rulelog changes`` and
``/api/timeline/changes`` show -- with the same rule for rows about
permissions, roles and tokens: shown only to a reader holding
``permission``/``view``. Without ``since``, the page shows the last
``WINDOW`` events up to the page's moment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request

from rulelog.api.admin.access import may_view_access
from rulelog.api.admin.timeline import timeline_of
from rulelog.api.console.caller import who
from rulelog.api.console.moment import moment_of
from rulelog.api.console.render import page
from rulelog.api.console.session import ConsoleRefusal
from rulelog.domain.errors import Invalid
from rulelog.projections.audit import KINDS, changes

router = APIRouter()

#: Events shown when no ``since`` is given.
WINDOW = 200


#: The list page of each other kind of object (kinds without one are not linked).
PAGES = {
    "shutoff": "/ui/shutoffs",
    "pin": "/ui/shutoffs",
    "policy": "/ui/signoffs",
    "permission": "/ui/users",
    "role": "/ui/users",
    "channel": "/ui/channel-maps",
}


def link_of(row: dict[str, Any]) -> str | None:
    """The console page of the row's object, as of the row's event."""
    at = f"?at=position:{row['position']}"
    what = str(row.get("what") or "")
    if row["kind"] == "rule" and what.isdigit():
        return f"/ui/rules/{what}{at}"
    if row["kind"] == "release":
        return f"/ui/releases/{quote(what, safe='')}{at}"
    if row["kind"] == "sc":
        kind, _, sc_id = what.partition("/")
        return f"/ui/scheduled{at}&ended=1#sc-{kind}-{sc_id}"
    page = PAGES.get(row["kind"])
    return page + at if page and what and what != "None" else None


@router.get("/history", summary="The audit log")
def history_page(
    request: Request,
    by: str | None = None,
    kind: list[str] = Query([]),
    product: str | None = None,
    channel: str | None = None,
    since: str | None = None,
) -> Any:
    moment = moment_of(request)
    who(request)
    timeline = timeline_of(request)
    start = since or f"position:{max(0, moment.position - WINDOW)}"
    try:
        rows = changes(
            request.app.state.service,
            timeline,
            start,
            f"position:{moment.position}",
            product=product or None,
            channel=channel or None,
            by=by or None,
            kinds=[k for k in kind if k],
            with_access=may_view_access(request),
        )
    except Invalid as error:
        raise ConsoleRefusal(400, str(error)) from None
    rows.reverse()  # newest first
    return page(
        request,
        "history.html",
        moment=moment,
        rows=rows,
        links=[link_of(r) for r in rows],
        kinds=list(KINDS),
        chosen=set(kind),
        by=by or "",
        product=product or "",
        channel=channel or "",
        since=since or "",
        window=WINDOW,
    )
