"""Desupport blobs (schema 50): tell clients their OS is no longer supported.

The response is a bare ``<update unsupported="true">`` whose detailsURL may
name the locale, the client's version and its OS (the build target's first
``_`` part). Balrog writes no header line (an empty line in the output) and
an unindented ``</update>``; both are kept byte for byte.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain.serving.blobs.common import Blob, RenderContext, Serve
from rulelog.domain.serving.request import UpdateRequest

__all__ = ["DesupportBlob"]


class DesupportBlob(Blob):
    def should_serve(self, request: UpdateRequest) -> Serve:
        return Serve.YES  # always shown, whatever the client runs

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return ""

    def inner_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> list[str]:
        locale, version = request.locale or "", request.version
        os_name = request.build_target.split("_")[0]
        url = self.data["detailsUrl"]
        for upper, value in (("LOCALE", locale), ("VERSION", version), ("OS", os_name)):
            url = url.replace(f"%{upper}%", value)
        for lower, value in (("locale", locale), ("version", version), ("os", os_name)):
            url = url.replace(f"%{lower}%", value)
        return [
            f'    <update type="{update_type}" unsupported="true" detailsURL="{url}"'
            f' displayVersion="{self.data["displayVersion"]}">'
        ]

    def footer_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "</update>"
