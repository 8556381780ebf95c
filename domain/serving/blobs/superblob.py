"""Superblobs (schema 4000): a response assembled from other releases.

``products`` (GMP): each listed product is evaluated against its own rules
with the same request, and every release served contributes its addons.
``blobs`` (system add-ons): each listed release contributes its addons,
evaluated as a request for that release's product. The superblob itself only
writes the ``<addons>`` wrapper and is always served.
"""

from __future__ import annotations

from typing import Any

from rulelog.domain.serving.blobs.common import Blob, RenderContext, Serve
from rulelog.domain.serving.request import UpdateRequest

__all__ = ["SuperBlob"]


class SuperBlob(Blob):
    def should_serve(self, request: UpdateRequest) -> Serve:
        return Serve.YES

    def response_products(self) -> Any:
        return self.data.get("products")

    def response_blobs(self) -> Any:
        return self.data.get("blobs")

    def header_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    <addons>"

    def footer_xml(self, request: UpdateRequest, update_type: Any, ctx: RenderContext) -> str:
        return "    </addons>"
