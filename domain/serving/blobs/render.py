"""Blob dispatch on ``schema_version`` and assembly of the XML document.

A response is the outer ``<updates>`` element, the served release's header
line, the inner lines of every contributing blob (itself, or the releases a
superblob names), the served release's footer line. Lines are joined with
newlines -- empty header/footer lines included, as Balrog does -- and every
``&`` not already starting ``&amp;`` is escaped; nothing else is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rulelog.domain.serving.blobs.apprelease_versions import (
    ReleaseBlobV1,
    ReleaseBlobV2,
    ReleaseBlobV3,
    ReleaseBlobV4,
    ReleaseBlobV5,
    ReleaseBlobV6,
    ReleaseBlobV8,
    ReleaseBlobV9,
)
from rulelog.domain.serving.blobs.common import Blob, RenderContext, ServingCrash
from rulelog.domain.serving.blobs.desupport import DesupportBlob
from rulelog.domain.serving.blobs.gmp import GMPBlob
from rulelog.domain.serving.blobs.guardian import GuardianBlob
from rulelog.domain.serving.blobs.superblob import SuperBlob
from rulelog.domain.serving.blobs.systemaddons import SystemAddonsBlob
from rulelog.domain.serving.request import UpdateRequest

__all__ = ["BLOB_TYPES", "EMPTY_UPDATES", "ResponsePart", "make_blob", "render_xml"]

BLOB_TYPES: Mapping[int, type[Blob]] = {
    1: ReleaseBlobV1,
    2: ReleaseBlobV2,
    3: ReleaseBlobV3,
    4: ReleaseBlobV4,
    5: ReleaseBlobV5,
    6: ReleaseBlobV6,
    8: ReleaseBlobV8,
    9: ReleaseBlobV9,
    50: DesupportBlob,
    1000: GMPBlob,
    4000: SuperBlob,
    5000: SystemAddonsBlob,
    10000: GuardianBlob,
}

EMPTY_UPDATES = '<?xml version="1.0"?>\n<updates>\n</updates>'
_UNESCAPED_AMP = re.compile("&(?!amp;)")

# Bug 1517743: two nightlies cannot parse indented update.xml.
_SQUASHED_RELEASE = "Firefox-mozilla-central-nightly-latest"
_SQUASHED_BUILD_IDS = frozenset({"20190103220533", "20190104093221"})


def make_blob(data: Mapping[str, Any]) -> Blob:
    """The renderer for a release's data; an unknown schema cannot be served."""
    version = data.get("schema_version")
    if not version:
        raise ServingCrash("release blob has no schema_version")
    blob_type = BLOB_TYPES.get(version)
    if blob_type is None:
        raise ServingCrash(f"release blob has unknown schema_version {version!r}")
    return blob_type(data)


@dataclass(frozen=True, slots=True)
class ResponsePart:
    """One blob's contribution, rendered for the request that selected it."""

    blob: Blob
    request: UpdateRequest
    update_type: Any


def needs_squash(blob: Blob, request: UpdateRequest) -> bool:
    """Whether a single-blob response must be sent without newlines/indent."""
    if "name" not in blob.data:
        raise ServingCrash("release blob has no name")
    return blob.data["name"] == _SQUASHED_RELEASE and request.build_id in _SQUASHED_BUILD_IDS


def render_xml(
    release: Blob,
    request: UpdateRequest,
    update_type: Any,
    parts: Sequence[ResponsePart],
    ctx: RenderContext,
    *,
    squash: bool = False,
) -> str:
    lines = ['<?xml version="1.0"?>', "<updates>", release.header_xml(request, update_type, ctx)]
    for part in parts:
        lines.extend(part.blob.inner_xml(part.request, part.update_type, ctx))
    lines.append(release.footer_xml(request, update_type, ctx))
    lines.append("</updates>")
    xml = _UNESCAPED_AMP.sub("&amp;", "\n".join(lines))
    if squash:
        xml = xml.replace("\n", "").replace("    ", "")
    return xml
