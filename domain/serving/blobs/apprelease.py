"""Gecko app release blobs (schemas 1-9): what all of them share.

The schema versions differ in three independent ways, which the subclasses in
``apprelease_versions`` pick: how the ``<update>`` line is written, whether a
locale has one ``complete``/``partial`` or lists of ``completes``/``partials``
(the first usable one of each is served), and where download URLs come from
(v1-v3: one URL template per channel plus filename/product tables; v4+:
``fileUrls[channel][completes|partials][from]`` with fallback channel and
``*`` as the last resort).

Partials are served only when their ``from`` release exists and its buildID
for this platform (or an alias of it) and locale equals the requester's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import (
    Blob,
    RenderContext,
    Serve,
    ServingCrash,
    is_forbidden_url,
)
from rulelog.domain.serving.request import UpdateRequest
from rulelog.domain.serving.versions import moz_version, pin_version

__all__ = ["NoFileUrl", "ReleaseBlob"]


class NoFileUrl(ValueError):
    """No download URL for this channel: fatal for completes, not for partials."""


def _bad_data(*args: object) -> Invalid:
    """Balrog's BadDataError text is its arguments joined by spaces."""
    return Invalid(" ".join(str(a) for a in args))


class ReleaseBlob(Blob):
    """Lookups, serving decision and patch rendering shared by v1-v9."""

    multiple_patches = True  # v3+: "completes"/"partials" lists
    unified_urls = True  # v4+: fileUrls[channel][patchKey][from]
    proofs = False  # v8+: binTransInclusionProof on patches
    version_key = "appVersion"  # v1 uses "extv"

    # --- lookups ---------------------------------------------------------
    def resolved_platform(self, platform: str) -> str:
        try:
            return self.data["platforms"][platform].get("alias", platform)
        except KeyError:
            raise _bad_data("Can't find platform '%s'", platform) from None

    def platform_data(self, platform: str) -> Mapping[str, Any]:
        resolved = self.resolved_platform(platform)
        try:
            return self.data["platforms"][resolved]
        except KeyError:
            raise _bad_data("Can't find platform '%s'", resolved) from None

    def locale_data(self, platform: str, locale: str) -> Mapping[str, Any]:
        try:
            return self.platform_data(platform)["locales"][locale]
        except KeyError:
            raise _bad_data("Can't find locale '%s' in '%s'", locale, platform) from None

    def locale_or_top_level(self, platform: str, locale: str, param: str) -> Any:
        """A locale's own value, else the blob's top-level one, else None."""
        try:
            resolved = self.resolved_platform(platform)
            return self.data["platforms"][resolved]["locales"][locale][param]
        except (Invalid, KeyError):
            return self.data.get(param)

    def build_id(self, platform: str, locale: str) -> Any:
        resolved = self.resolved_platform(platform)
        platforms = self.data["platforms"]
        if locale not in platforms.get(resolved, {}).get("locales", {}):
            raise Invalid(f"No such locale '{locale}' in platform '{resolved}'")
        try:
            return platforms[resolved]["locales"][locale]["buildID"]
        except KeyError:
            if resolved not in platforms:
                raise Invalid(f"No such platform '{resolved}'") from None
            if "buildID" not in platforms[resolved]:
                raise Invalid(f"No buildID for platform '{resolved}'") from None
            return platforms[resolved]["buildID"]

    def application_version(self, platform: str, locale: str) -> Any:
        return self.locale_or_top_level(platform, locale, self.version_key)

    # --- serving decision --------------------------------------------------
    def should_serve(self, request: UpdateRequest) -> Serve:
        """Serve only newer releases (same version: newer buildID) that have
        the requester's platform; a pin below the release makes it MAYBE."""
        if request.locale is None or request.build_id is None:
            return Serve.NO  # JSON requests carry neither
        target, locale = request.build_target, request.locale
        release_text = self.application_version(target, locale)
        if not release_text:
            return Serve.NO
        release = moz_version(release_text)
        query = moz_version(request.version)
        if query > release:
            return Serve.NO
        if release == query and request.build_id >= self.build_id(target, locale):
            return Serve.NO
        if target not in self.data["platforms"]:
            return Serve.NO
        if request.pin is not None and pin_version(request.pin).is_exceeded_by(release):
            return Serve.MAYBE
        return Serve.YES

    def matches_update_query(self, request: UpdateRequest, aliases: set[str]) -> bool:
        """Is the requester running this (partial's ``from``) release?"""
        unset = object()
        found: Any = unset
        for target in (request.build_target, *sorted(aliases)):
            if target in self.data["platforms"]:
                # On a missing build Balrog keeps whatever it found before, if anything.
                with contextlib.suppress(Invalid):
                    found = self.build_id(target, request.locale or "")
                if found is unset:
                    raise ServingCrash(
                        f"from-release {self.name!r} has no build for {target}/{request.locale}"
                    )
                if request.build_id == found:
                    return True
        return False

    # --- XML ---------------------------------------------------------------
    def update_line(self, request: UpdateRequest, update_type: Any) -> str:
        raise NotImplementedError

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return self.update_line(request, update_type)

    def footer_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    </update>"

    def inner_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> list[str]:
        locale_data = self.locale_data(request.build_target, request.locale or "")
        patches: list[str] = []
        if self.multiple_patches:
            for key, kind in (("completes", "complete"), ("partials", "partial")):
                for patch in locale_data.get(key, {}):
                    xml = self._patch_xml(key, kind, patch, request, ctx)
                    if xml:
                        patches.append(xml)
                        break
        else:
            for key in ("complete", "partial"):
                patch = locale_data.get(key)
                if not patch:
                    continue
                xml = self._patch_xml(key, key, patch, request, ctx)
                if xml:
                    patches.append(xml)
        return patches

    def _from_release(self, patch: Mapping[str, Any], ctx: RenderContext) -> ReleaseBlob | None:
        if patch["from"] == "*":
            return None
        data = ctx.lookup(patch["from"])
        if data is None:
            return None
        from rulelog.domain.serving.blobs.render import (
            make_blob,  # the dispatcher imports this module
        )

        blob = make_blob(data)
        if not isinstance(blob, ReleaseBlob):
            raise ServingCrash(f"partial from {patch['from']!r} is not an app release")
        return blob

    def _aliases(self, build_target: str) -> set[str]:
        platforms = self.data["platforms"]
        unaliased = platforms[build_target].get("alias", build_target)
        return {unaliased} | {p for p in platforms if platforms[p].get("alias", "") == unaliased}

    def _patch_xml(
        self,
        key: str,
        kind: str,
        patch: Mapping[str, Any],
        request: UpdateRequest,
        ctx: RenderContext,
    ) -> str | None:
        from_release = self._from_release(patch, ctx)
        aliases = self._aliases(request.build_target)
        if from_release is not None and not from_release.matches_update_query(request, aliases):
            return None
        if patch["from"] != "*" and from_release is None:
            return None
        try:
            url = self.file_url(request, key, patch, ctx)
        except NoFileUrl:
            if kind == "partial":
                return None
            raise ServingCrash(
                f"release {self.name!r} has no complete URL for channel {request.channel!r}"
            ) from None
        if is_forbidden_url(url, request.product, ctx.settings.allowlist):
            return None
        xml = (
            f'        <patch type="{kind}" URL="{url}" hashFunction="{self.data["hashFunction"]}"'
            f' hashValue="{patch["hashValue"]}" size="{patch["filesize"]}"'
        )
        if self.proofs and "binTransInclusionProof" in patch:
            xml += f' binTransInclusionProof="{patch["binTransInclusionProof"]}"'
        return xml + "/>"

    # --- download URLs -----------------------------------------------------
    def file_url(
        self, request: UpdateRequest, key: str, patch: Mapping[str, Any], ctx: RenderContext
    ) -> str:
        platform = self.platform_data(request.build_target)
        if "fileUrl" in patch:
            url = patch["fileUrl"]
        elif self.unified_urls:
            url = self._unified_template(request, key, patch["from"])
            url = self._substitute(url, request.locale or "", platform, None)
        else:
            url = self._separated_template(request)
            names = (self._ftp_filename(key, patch["from"]), self._product(key, patch["from"]))
            url = self._substitute(url, request.locale or "", platform, names)
        if request.force is not None:
            for host in ctx.settings.special_force_hosts:
                if url.startswith(host):
                    url += ("&" if "?" in url else "?") + "force=" + request.force.value
                    break
        return url

    def _unified_template(self, request: UpdateRequest, key: str, from_: str) -> str:
        url = None
        for channel in (request.channel, request.fallback_channel, "*"):
            block = self.data.get("fileUrls", {}).get(channel, {})
            if block:  # a channel block stops the search even if it lacks the URL
                url = block.get(key, {}).get(from_)
                break
        if not url:
            raise NoFileUrl(f"no fileUrl for {request.channel}/{key}/{from_}")
        return url

    def _separated_template(self, request: UpdateRequest) -> str:
        try:
            return self.data["fileUrls"][request.channel]
        except KeyError:
            try:
                return self.data["fileUrls"][request.fallback_channel]
            except KeyError:
                raise ServingCrash(
                    f"release {self.name!r} has no fileUrls for channel {request.channel!r}"
                ) from None

    def _ftp_filename(self, key: str, from_: str) -> Any:
        return self.data.get("ftpFilenames", {}).get(key, "")

    def _product(self, key: str, from_: str) -> Any:
        return self.data.get("bouncerProducts", {}).get(key, "")

    @staticmethod
    def _substitute(
        url: str, locale: str, platform: Mapping[str, Any], names: tuple[Any, Any] | None
    ) -> str:
        """Balrog's placeholder replacement, in its order; OS_FTP and
        OS_BOUNCER must exist on the platform even when unused."""
        url = url.replace("%LOCALE%", locale).replace("%OS_FTP%", platform["OS_FTP"])
        if names is not None:
            url = url.replace("%FILENAME%", names[0]).replace("%PRODUCT%", names[1])
        url = url.replace("%OS_BOUNCER%", platform["OS_BOUNCER"])
        url = url.replace("%locale%", locale).replace("%os_ftp%", platform["OS_FTP"])
        if names is not None:
            url = url.replace("%filename%", names[0]).replace("%product%", names[1])
        return url.replace("%os_bouncer%", platform["OS_BOUNCER"])
