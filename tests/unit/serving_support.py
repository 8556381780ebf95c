"""Shared helpers for the blob rendering tests."""

from __future__ import annotations

from typing import Any

from rulelog.domain.serving.blobs.common import RenderContext, ServingSettings
from rulelog.domain.serving.blobs.render import ResponsePart, make_blob, render_xml
from rulelog.domain.serving.request import UpdateRequest

SETTINGS = ServingSettings(
    allowlist={"a.com": ("h", "Firefox")}, special_force_hosts=("http://a.com",)
)
REQUEST = UpdateRequest(
    api="update",
    query_version=3,
    product="h",
    version="30.0",
    build_target="p",
    channel="release",
    build_id="10",
    locale="l",
)


def render(blob: dict[str, Any], request: UpdateRequest = REQUEST, **others: Any) -> list[str]:
    """The whole response body as lines, other releases available by name."""
    ctx = RenderContext(SETTINGS, lambda name: others.get(name))
    obj = make_blob(blob)
    body = render_xml(obj, request, "minor", [ResponsePart(obj, request, "minor")], ctx)
    return body.split("\n")


def inner(blob: dict[str, Any], request: UpdateRequest = REQUEST, **others: Any) -> list[str]:
    return [line.strip() for line in render(blob, request, **others)[3:-2]]


def header(blob: dict[str, Any], request: UpdateRequest = REQUEST, **others: Any) -> str:
    return render(blob, request, **others)[2].strip()


def patch(frm: str, size: int, url: str | None = None, **extra: Any) -> dict[str, Any]:
    data = {"from": frm, "filesize": size, "hashValue": str(size + 1), **extra}
    if url:
        data["fileUrl"] = url
    return data
