"""The download-domain allowlist: a blob may name download URLs only on hosts
the deployment grants the release's product (Balrog's ``ALLOWLISTED_DOMAINS``).

The walk covers places the schemas leave open (extra keys of an alias platform,
a GMP vendor or platform named ""), where Balrog's own loops fail on data of an
unexpected type and so refuse the blob; it follows Balrog's loops step by step
and turns such a failure into an Invalid naming the spot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlparse

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.problems import MALFORMED, Path, invalid, short
from rulelog.domain.serving.blobs.schemas import APP_RELEASE_VERSIONS, schema_version_of

#: Allowlist shape, as in Balrog's ``ALLOWLISTED_DOMAINS``: domain -> products that may
#: download from it, or domain -> {path regex -> products} for per-path rules.
DomainAllowlist = Mapping[str, Any]

#: Balrog's words for a blob naming a download host its product may not use.
FORBIDDEN_DOMAIN = "Blob contains forbidden domain(s)"


def check_download_domains(
    blob: dict[str, Any], product: str | None, allowlist: DomainAllowlist
) -> None:
    """Raise Invalid (``reason="forbidden_domain"``) if ``blob`` names a download URL on
    a host ``allowlist`` does not grant ``product``; the blob must be schema-valid."""
    try:
        check_domains(blob, schema_version_of(blob), product, allowlist)
    except Invalid as error:
        raise Invalid(
            f"{FORBIDDEN_DOMAIN}: {error}", field="blob", reason="forbidden_domain"
        ) from None


def check_domains(
    blob: dict[str, Any], schema_version: int, product: str | None, allowlist: DomainAllowlist
) -> None:
    """Refuse download URLs on hosts the allowlist does not grant ``product``.

    Mirrors the ``containsForbiddenDomain`` methods: desupport and superblobs
    carry no download URLs; the desupport ``detailsUrl`` is exempt on purpose.
    """
    where: list[Path] = [()]
    try:
        for path, url in _download_urls(blob, schema_version, where):
            problem = _url_problem(url, product, allowlist)
            if problem:
                raise invalid(path, problem)
    except MALFORMED:
        raise invalid(where[0], "malformed data where download URLs may be") from None


def _download_urls(
    blob: dict[str, Any], schema_version: int, where: list[Path]
) -> Iterator[tuple[Path, object]]:
    """Yield (path, url) for every URL a client would download from.

    ``where[0]`` tracks the part being read, for the message if it is malformed.
    """
    if schema_version in APP_RELEASE_VERSIONS:
        for channel, urls in blob.get("fileUrls", {}).items():
            if isinstance(urls, dict):  # v4+: {partials|completes: {from: url}}
                for kind, by_from in urls.items():
                    for from_, url in by_from.items():
                        yield ("fileUrls", channel, kind, from_), url
            else:  # v1-v3: one URL template per channel
                yield ("fileUrls", channel), urls
        for platform, pdata in blob.get("platforms", {}).items():
            where[0] = ("platforms", platform, "locales")
            for locale, ldata in pdata.get("locales", {}).items():
                base = ("platforms", platform, "locales", locale)
                where[0] = base
                for kind in ("partial", "complete"):
                    if kind in ldata and "fileUrl" in ldata[kind]:
                        yield (*base, kind, "fileUrl"), ldata[kind]["fileUrl"]
                for kind in ("partials", "completes"):
                    where[0] = (*base, kind)
                    for i, patch in enumerate(ldata.get(kind, {})):
                        if "fileUrl" in patch:
                            yield (*base, kind, i, "fileUrl"), patch["fileUrl"]
    elif schema_version in (1000, 5000):
        group = "vendors" if schema_version == 1000 else "addons"
        for key, entry in blob.get(group, {}).items():
            where[0] = (group, key)
            for platform, pdata in entry.get("platforms", {}).items():
                base = (group, key, "platforms", platform)
                where[0] = base
                if "fileUrl" in pdata:
                    yield (*base, "fileUrl"), pdata["fileUrl"]
                if schema_version == 1000 and "mirrorUrls" in pdata:
                    for i, url in enumerate(pdata["mirrorUrls"]):
                        yield (*base, "mirrorUrls", i), url
    elif schema_version == 10000:
        for platform, pdata in blob["platforms"].items():
            yield ("platforms", platform, "fileUrl"), pdata["fileUrl"]


def _url_problem(url: object, product: str | None, allowlist: DomainAllowlist) -> str | None:
    """Why ``url`` may not be served for ``product`` (Balrog's ``isForbiddenUrl``), or None."""
    if not isinstance(url, str):
        return f"{short(url)} is not a URL"
    try:
        parsed = urlparse(url)
    except ValueError:
        return f"{short(url)} is not a valid URL"
    domain = parsed.netloc
    if domain not in allowlist:
        return f"domain {domain!r} is not allowlisted"
    rule = allowlist[domain]
    if isinstance(rule, Mapping):
        for path_regex, products in rule.items():
            if re.fullmatch(path_regex, parsed.path):
                if product in products:
                    return None
                return f"{domain}{parsed.path} is not allowlisted for product {product!r}"
        return f"path {parsed.path!r} on {domain!r} is not allowlisted"
    if isinstance(rule, (str, bytes)) or not hasattr(rule, "__contains__"):
        return f"malformed allowlist entry for domain {domain!r}"
    if product in rule:
        return None
    return f"domain {domain!r} is not allowlisted for product {product!r}"
