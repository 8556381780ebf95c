"""System add-on blobs (schema 5000): built-in add-ons updated out of band.

Like GMP, but without mirrors, and the ``<addons>`` wrapper is written only
when at least one addon is servable or the blob asks to ``uninstall`` (an
empty wrapper tells the client to remove its system add-ons). When nothing
is servable Balrog writes empty lines where the wrapper would be; so do we.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.common import Blob, RenderContext, Serve, is_forbidden_url
from rulelog.domain.serving.request import UpdateRequest

__all__ = ["SystemAddonsBlob"]


class SystemAddonsBlob(Blob):
    def should_serve(self, request: UpdateRequest) -> Serve:
        return Serve.YES

    def _addons_for(self, platform: str) -> Iterator[str]:
        addons = self.data.get("addons", {})
        for addon in addons:
            platforms = addons.get(addon, {}).get("platforms", {})
            if platform in platforms or "default" in platforms:
                yield addon

    def _platform_data(self, addon: str, platform: str) -> Mapping[str, Any] | None:
        platforms = self.data.get("addons", {}).get(addon, {}).get("platforms", {})
        if platform in platforms:
            resolved = platforms.get(platform, {}).get("alias", platform)
        elif "default" in platforms:
            resolved = "default"
        else:
            raise Invalid(f"No platform '%s' or default in addon '%s' {platform} {addon}")
        return platforms.get(resolved)

    def _servable(self, request: UpdateRequest, ctx: RenderContext) -> Iterator[tuple[str, Any]]:
        for addon in sorted(self._addons_for(request.build_target)):
            data = self._platform_data(addon, request.build_target)
            url = data["fileUrl"]  # type: ignore[index]  # a dangling alias fails, as in Balrog
            if not is_forbidden_url(url, request.product, ctx.settings.allowlist):
                yield addon, data

    def _wrapped(self, request: UpdateRequest, ctx: RenderContext) -> bool:
        if self.data.get("uninstall", False):
            return True
        return next(self._servable(request, ctx), None) is not None

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    <addons>" if self._wrapped(request, ctx) else ""

    def footer_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    </addons>" if self._wrapped(request, ctx) else ""

    def inner_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> list[str]:
        if self.data.get("addons") is None:
            return []  # an uninstall-only blob
        return [
            f'        <addon id="{addon}" URL="{data["fileUrl"]}"'
            f' hashFunction="{self.data["hashFunction"]}"'
            f' hashValue="{data["hashValue"]}" size="{data["filesize"]}"'
            f' version="{self.data["addons"][addon]["version"]}"/>'
            for addon, data in self._servable(request, ctx)
        ]
