"""``/ui/releases``: the releases, searchable; one release's blob as a document.

The blob is read at exactly the version the page's moment saw (the state's
row names it), so a past page shows the blob as it was then. The rules that
map to the release (``mapping`` or ``fallbackMapping``) are listed with it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from rulelog.api.console.caller import who
from rulelog.api.console.moment import moment_of, state_of
from rulelog.api.console.render import page
from rulelog.api.console.session import ConsoleRefusal
from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import MAPPING_COLUMNS

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


@router.get("/releases/{name}", summary="One release")
def release_page(
    request: Request, name: str, platform: str | None = None, locale: str | None = None
) -> Any:
    moment = moment_of(request)
    who(request)
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
        )
