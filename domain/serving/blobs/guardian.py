"""Guardian blobs (schema 10000): Mozilla VPN updates, served as JSON.

Versions compare as loose versions. A newer release for the requester's
platform is answered with its version, URL, ``required`` flag and hash; a
platform without URL, or a URL outside the allowlist, is answered ``{}``.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain.serving.blobs.common import Blob, RenderContext, Serve, is_forbidden_url
from rulelog.domain.serving.request import UpdateRequest
from rulelog.domain.serving.versions import loose_version

__all__ = ["GuardianBlob"]


class GuardianBlob(Blob):
    is_xml = False

    def should_serve(self, request: UpdateRequest) -> Serve:
        if request.build_target not in self.data.get("platforms", {}):
            return Serve.NO
        if loose_version(request.version) >= loose_version(self.data["version"]):
            return Serve.NO
        return Serve.YES

    def json_response(self, request: UpdateRequest, ctx: RenderContext) -> dict[str, Any]:
        platform = self.data.get("platforms", {}).get(request.build_target, {})
        url = platform.get("fileUrl")
        hash_value = platform.get("hashValue")
        if not url or is_forbidden_url(url, request.product, ctx.settings.allowlist):
            return {}
        return {
            "version": self.data["version"],
            "url": url,
            "required": self.data["required"],
            "hashFunction": self.data["hashFunction"],
            "hashValue": hash_value,
        }
