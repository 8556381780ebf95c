"""``/ui/releases``: the releases, searchable; one release's blob as a document.

The blob is read at exactly the version the page's moment saw (the state's
row names it), so a past page shows the blob as it was then. The rules that
map to the release (``mapping`` or ``fallbackMapping``) are listed with it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from rulelog.api.console.caller import may, signed_in, who
from rulelog.api.console.moment import moment_of, state_of
from rulelog.api.console.render import page, redirect
from rulelog.api.console.session import ConsoleRefusal, FormData, data_version_of
from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import MAPPING_COLUMNS
from rulelog.projections.release_revisions import release_revisions, state_at

router = APIRouter()


@router.get("/releases", summary="Releases")
def releases_page(request: Request, q: str | None = None, product: str | None = None) -> Any:
    moment = moment_of(request)
    who(request)
    with state_of(request, moment) as state:
        rows = sorted(
            (
                r
                for r in state.releases.values()
                if (not q or q.lower() in r["name"].lower())
                and (not product or r["product"] == product)
            ),
            key=lambda r: r["name"],
        )
        return page(
            request,
            "releases.html",
            moment=moment,
            releases=rows,
            products=sorted({r["product"] for r in state.releases.values() if r["product"]}),
            q=q or "",
            product=product or "",
        )


def _locale_view(blob: dict[str, Any], platform: str | None, locale: str | None) -> Any:
    """One platform's (and locale's) part of the blob, for the per-locale view."""
    if not platform:
        return None
    part = (blob.get("platforms") or {}).get(platform)
    if part is None:
        raise ConsoleRefusal(404, f"The release has no platform {platform}.")
    if locale:
        part = (part.get("locales") or {}).get(locale)
        if part is None:
            raise ConsoleRefusal(404, f"The release has no locale {locale} on {platform}.")
    return part


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """A blob as ``{path: leaf}`` (``platforms.WINNT.locales.de.buildID``), to compare."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {path: value}
    found: dict[str, Any] = {}
    for key, item in items:
        found.update(flatten(item, f"{path}.{key}" if path else str(key)))
    return found


def blob_diff(request: Request, name: str, first: int, second: int) -> list[tuple[str, Any, Any]]:
    """(path, before, after) for every leaf that differs between two revisions."""
    states = [state_at(request.app.state.service, name, change) for change in (first, second)]
    if any(state is None for state in states):
        raise ConsoleRefusal(404, f"Release {name} has no revision {first} or {second}.")
    old, new = (flatten(state.blob) for state in states if state is not None)
    paths = sorted(set(old) | set(new))
    return [(p, old.get(p), new.get(p)) for p in paths if old.get(p) != new.get(p)]


@router.get("/releases/{name}", summary="One release")
def release_page(
    request: Request,
    name: str,
    platform: str | None = None,
    locale: str | None = None,
    first: int | None = Query(None, alias="from"),
    to: int | None = None,
) -> Any:
    moment = moment_of(request)
    who(request)
    revisions = [
        r
        for r in release_revisions(request.app.state.service, name)
        if r["change_id"] <= moment.position
    ]
    diff = blob_diff(request, name, first, to) if first is not None and to is not None else None
    with state_of(request, moment) as state:
        row = state.releases.get(name)
        if row is None:
            raise ConsoleRefusal(404, f"Release {name} does not exist {moment.where}.")
        release = request.app.state.service.repository.get(
            ids.release_id(name), version=row["version"]
        )
        assert isinstance(release, Release)
        blob = release.blob
        mapped = [
            r for r in state.sorted_rules() if any(r.get(c) == name for c in MAPPING_COLUMNS)
        ]
        platforms = sorted((blob.get("platforms") or {}).keys())
        return page(
            request,
            "release.html",
            moment=moment,
            release=row,
            blob=blob,
            rules=mapped,
            platforms=platforms,
            platform=platform or "",
            locale=locale or "",
            part=_locale_view(blob, platform, locale),
            revisions=revisions,
            diff=diff,
            compared=(first, to),
            may_toggle=moment.live
            and may(
                request,
                f"release_read_only.{'unset' if row['read_only'] else 'set'}",
                row["product"],
            ),
        )


@router.post("/releases/{name}/read_only", summary="Make a release read-only, or writable")
def set_read_only(request: Request, name: str, form: FormData) -> Response:
    user = signed_in(request)
    data_version = data_version_of(form)
    read_only = form.get("read_only") == "1"
    request.app.state.service.set_release_read_only(name, data_version, read_only, user)
    return redirect(request, f"/ui/releases/{quote(name, safe='')}")
