"""GMP blobs (schema 1000): Gecko Media Plugins (OpenH264, Widevine, ...).

Every vendor with the requester's platform (or a ``default``) becomes an
``<addon>``, vendors sorted by id; a platform entry may alias another one.
URLs outside the allowlist are dropped (the addon when it is its fileUrl,
otherwise just that mirror); with no mirror left the addon is self-closing.
GMP updates are always served: the client decides what to install.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import Blob, RenderContext, Serve, is_forbidden_url
from rulelog.domain.serving.request import UpdateRequest

__all__ = ["GMPBlob"]


class GMPBlob(Blob):
    def should_serve(self, request: UpdateRequest) -> Serve:
        return Serve.YES

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    <addons>"

    def footer_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    </addons>"

    def _has_platform(self, vendor: str, platform: str) -> bool:
        platforms = self.data["vendors"][vendor]["platforms"]
        return platform in platforms or "default" in platforms

    def _platform_data(self, vendor: str, platform: str) -> Mapping[str, Any]:
        platforms = self.data["vendors"][vendor]["platforms"]
        if platform in platforms:
            resolved = platforms[platform].get("alias", platform)
        elif "default" in platforms:
            resolved = "default"
        else:
            raise Invalid(f"No platform '%s' or default in vendor '%s' {platform} {vendor}")
        try:
            return platforms[resolved]
        except KeyError:
            raise Invalid(f"No platform '%s' in vendor '%s' {resolved} {vendor}") from None

    def inner_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> list[str]:
        target, product = request.build_target, request.product
        allowlist = ctx.settings.allowlist
        vendors = self.data["vendors"]
        lines: list[str] = []
        for vendor in sorted(v for v in vendors if self._has_platform(v, target)):
            data = self._platform_data(vendor, target)
            url = data["fileUrl"]
            if is_forbidden_url(url, product, allowlist):
                continue
            mirrors = [
                m for m in data.get("mirrorUrls", ()) if not is_forbidden_url(m, product, allowlist)
            ]
            hash_function = self.data["hashFunction"]
            lines.append(
                f'        <addon id="{vendor}" URL="{url}" hashFunction="{hash_function}"'
                f' hashValue="{data["hashValue"]}" size="{data["filesize"]}"'
                f' version="{vendors[vendor]["version"]}"{"" if mirrors else "/"}>'
            )
            if mirrors:
                lines.extend(f'            <mirror URL="{m}"/>' for m in mirrors)
                lines.append("        </addon>")
        return lines
