"""``/ui/channels``: live against test, side by side; ``/ui/explain``: why a request got its answer.

A test channel's view is its live channel's rules with the pending changes
that touch it overlaid (derived), or the rules that name it (hand-kept).
``projections.diff.live_test_diff`` says how the two differ and which
pending change causes each difference; the page highlights exactly those
rows. ``/ui/explain`` shows ``projections.explain`` for an update URL at the
page's moment (pasted, or built from its fields), and optionally the same
request on one of its test channels.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rulelog.api.admin.timeline import timeline_of
from rulelog.api.console.caller import is_admin, signed_in, who
from rulelog.api.console.moment import moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import ConsoleRefusal, FormData
from rulelog.domain.serving.request import RouteNotFound, RouteRedirect
from rulelog.projections.channels import list_test_channels
from rulelog.projections.diff import live_test_diff
from rulelog.projections.explain import explain
from rulelog.projections.views import as_test_channel, live_channel_of, live_view, view_of

router = APIRouter()

#: The columns side by side (the rest are on each rule's page).
COLUMNS = ("rule_id", "priority", "product", "channel", "version", "mapping", "backgroundRate")
#: Where an update URL (``/update/N/product/version/build/target/locale/CHANNEL/...``)
#: names its channel, split on "/".
CHANNEL_PART = 8


@router.get("/channels", summary="Test channels")
def channels_page(request: Request) -> Any:
    moment = moment_of(request)
    who(request)
    listed = list_test_channels(timeline_of(request), f"position:{moment.position}")
    return page(request, "channels.html", moment=moment, channels=listed["test_channels"])


def _marks(differences: dict[str, Any]) -> dict[str, dict[Any, Any]]:
    """Per side, rule_id -> how the row differs ("added", "removed" or the changed columns)."""
    rules = differences.get("rules", {})
    live: dict[Any, Any] = {r["rule_id"]: "removed" for r in rules.get("removed", [])}
    test: dict[Any, Any] = {r["rule_id"]: "added" for r in rules.get("added", [])}
    for row in rules.get("changed", []):
        live[row["rule_id"]] = test[row["rule_id"]] = set(row["changes"])
    return {"live": live, "test": test}


@router.get("/channels/{test}", summary="A test channel next to its live channel")
def channel_page(request: Request, test: str) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        live = live_channel_of(state, test)
        if live is None:
            raise ConsoleRefusal(404, f"{test} is not a test channel {moment.where}.")
        live_rules = live_view(state, live).sorted_rules()
        test_rules = view_of(state, test).sorted_rules()
        kept = as_test_channel(state, test)
    diff = live_test_diff(timeline_of(request), live, test, f"position:{moment.position}")
    return page(
        request,
        "channel.html",
        moment=moment,
        live=live,
        test=test,
        diff=diff,
        columns=COLUMNS,
        sides=[("live", live, live_rules), ("test", test, test_rules)],
        marks=_marks(diff["differences"]),
        kept=kept.as_row() if kept is not None else None,
        may_derive=moment.live and kept is not None and not kept.derived and is_admin(request),
    )


@router.post("/channels/{test}/derive", summary="Derive a hand-kept test channel")
def derive(request: Request, test: str, form: FormData) -> Response:
    """Retire the rules that keep ``test`` by hand and map it to its live channel, in one
    save (``derive_test_channel``: each deletion is checked as any deletion)."""
    user = signed_in(request)
    with request.app.state.reader.current() as model:
        state = model.catalog
        live = live_channel_of(state, test)
        kept = as_test_channel(state, test)
        if live is None or kept is None:
            raise ConsoleRefusal(404, f"{test} is not a test channel.")
        retire = [(rule_id, state.rules[rule_id]["data_version"]) for rule_id in kept.kept_by]
    request.app.state.service.derive_test_channel(live, test, retire, user)
    return redirect(request, f"/ui/channels/{quote(test, safe='')}")


def on_channel(url: str, channel: str) -> str:
    """``url`` asking on ``channel`` instead (an ``/update/`` URL), else a 400."""
    path, sep, query = url.partition("?")
    parts = path.split("/")
    if len(parts) <= CHANNEL_PART or parts[1] != "update":
        raise ConsoleRefusal(400, "test channel: only /update/... URLs name their channel there")
    parts[CHANNEL_PART] = channel
    return "/".join(parts) + sep + query


def _explained(request: Request, url: str, position: int) -> dict[str, Any]:
    try:
        return explain(
            request.app.state.service, timeline_of(request), url, f"position:{position}"
        )
    except RouteNotFound as error:
        raise ConsoleRefusal(400, f"url: not an update request ({error})") from None
    except RouteRedirect as error:
        where = error.context["location"]
        raise ConsoleRefusal(400, f"url: repeated slashes; did you mean {where}?") from None


#: The fields of a version 6 update URL, in its order (``/update/6/...``), with examples.
URL_FIELDS = (
    ("product", "Firefox"),
    ("version", "120.0"),
    ("buildID", "20231116134553"),
    ("buildTarget", "WINNT_x86_64-msvc-x64"),
    ("locale", "en-US"),
    ("channel", "release"),
    ("osVersion", "Windows_NT 10.0"),
    ("systemCapabilities", "ISET:SSE4_2,MEM:16384"),
    ("distribution", "default"),
    ("distVersion", "default"),
)


def url_of(fields: dict[str, str]) -> str | None:
    """The update URL the filled-in fields make (None until product and version are)."""
    if not (fields.get("product") and fields.get("version")):
        return None
    parts = [quote(fields.get(name) or "default", safe=":,") for name, _ in URL_FIELDS]
    return "/update/6/" + "/".join(parts) + "/update.xml"


@router.get("/explain", summary="Which rule answered an update request, and why")
def explain_page(request: Request, url: str | None = None, test: str | None = None) -> Any:
    moment = moment_of(request)
    who(request)
    fields = {name: request.query_params.get(name, "") for name, _ in URL_FIELDS}
    url = url or url_of(fields)
    answers = []
    if url:
        answers.append((moment.where, _explained(request, url, moment.position)))
        if not moment.live:
            answers.append(("now", _explained(request, url, moment.head)))
        if test:
            on_test = _explained(request, on_channel(url, test), moment.position)
            answers.append((f"on {test}", on_test))
    return page(
        request,
        "explain.html",
        moment=moment,
        url=url or "",
        test=test or "",
        answers=answers,
        url_fields=URL_FIELDS,
        fields=fields,
    )
