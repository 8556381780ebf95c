"""What every blob renderer shares: settings, the URL allowlist, the base class.

A renderer answers three questions for one request, as Balrog's blob classes
do: should this release be served (``should_serve``), what XML does it add
(header line, inner lines, footer line) and, for JSON blobs, what object.
Where Balrog raises ``BadDataError`` (its 400) renderers raise ``Invalid``;
where Balrog would crash (its 500) they raise ``ServingCrash`` or let the
natural ``KeyError``/``TypeError`` escape, and evaluation turns that into an
empty answer plus a logged problem.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from rulelog.domain.serving.request import UpdateRequest

__all__ = [
    "PRODUCTION_ALLOWLIST",
    "PRODUCTION_SPECIAL_FORCE_HOSTS",
    "Allowlist",
    "Blob",
    "RenderContext",
    "Serve",
    "ServingCrash",
    "ServingSettings",
    "interpolate_locale",
    "is_forbidden_url",
]

# Products allowed per download domain; a dict value maps full-match path
# regexes to products. Balrog's production public app settings (public.wsgi).
Allowlist = Mapping[str, Collection[str] | Mapping[str, Collection[str]]]

_WIDEVINE = ("Widevine", "Widevine-L1")
PRODUCTION_ALLOWLIST: Allowlist = {
    "download.mozilla.org": ("Firefox", "Fennec", "Devedition", "Thunderbird"),
    "archive.mozilla.org": (
        "Firefox",
        "Fennec",
        "Devedition",
        "Thunderbird",
        "FirefoxVPN",
        "SystemAddons",
    ),
    "download.cdn.mozilla.net": ("Firefox", "Fennec"),
    "ciscobinary.openh264.org": ("OpenH264",),
    "cdmdownload.adobe.com": ("CDM",),
    "clients2.googleusercontent.com": ("Widevine",),
    "edgedl.me.gvt1.com": _WIDEVINE,
    "redirector.gvt1.com": _WIDEVINE,
    "www.google.com": {r"/dl/release2/chrome_component/[\w\.]+/[\w\.]+\.crx3": _WIDEVINE},
    "ftp.mozilla.org": ("SystemAddons",),
    "fpn.firefox.com": ("FirefoxVPN", "Guardian"),
    "vpn.mozilla.org": ("FirefoxVPN", "Guardian"),
}
# URLs on these hosts get the request's force value appended (for metrics).
PRODUCTION_SPECIAL_FORCE_HOSTS: tuple[str, ...] = ("http://download.mozilla.org",)


@dataclass(frozen=True, slots=True)
class ServingSettings:
    """Deployment settings that change response bodies."""

    allowlist: Allowlist = field(default_factory=lambda: PRODUCTION_ALLOWLIST)
    special_force_hosts: tuple[str, ...] = PRODUCTION_SPECIAL_FORCE_HOSTS


class ServingCrash(Exception):
    """Balrog would answer 500 here; rulelog serves no update and logs why."""


class Serve(enum.Enum):
    """``should_serve`` answers; MAYBE means "serve unless a pin says otherwise"."""

    NO = 0
    MAYBE = 1
    YES = 2

    def __bool__(self) -> bool:
        return self is not Serve.NO


@lru_cache(maxsize=64)
def _path_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def is_forbidden_url(url: str, product: str, allowlist: Allowlist | None) -> bool:
    """True unless the URL's host (port included) allows the product."""
    parsed = urlparse(url)
    entry = (allowlist or {}).get(parsed.netloc)
    if entry is None:
        return True
    if isinstance(entry, Mapping):
        for pattern, products in entry.items():
            if _path_regex(pattern).fullmatch(parsed.path):
                return product not in products
        return True
    if isinstance(entry, str):  # a bare string is a malformed entry, as in Balrog
        return True
    return product not in entry


def interpolate_locale(text: str, locale: str) -> str:
    return text.replace("%LOCALE%", locale).replace("%locale%", locale)


ReleaseLookup = Callable[[str], "Mapping[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Per-evaluation collaborators: settings and the release store."""

    settings: ServingSettings
    lookup: ReleaseLookup


class Blob:
    """A release blob (a Balrog ``data`` dict) seen as a response renderer."""

    is_xml = True

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    @property
    def name(self) -> Any:
        return self.data.get("name")

    def should_serve(self, request: UpdateRequest) -> Serve:
        return Serve.NO  # fail closed, as Balrog's base class does

    def response_products(self) -> Any:
        """Products whose own rules fill this (super)blob's response."""
        return None

    def response_blobs(self) -> Any:
        """Release names whose blobs fill this (super)blob's response."""
        return None

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        raise ServingCrash(f"{type(self).__name__} cannot start an XML response")

    def inner_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> list[str]:
        raise ServingCrash(f"{type(self).__name__} has no XML body")

    def footer_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        raise ServingCrash(f"{type(self).__name__} cannot end an XML response")

    def json_response(self, request: UpdateRequest, ctx: RenderContext) -> dict[str, Any]:
        raise ServingCrash(f"{type(self).__name__} has no JSON response")
