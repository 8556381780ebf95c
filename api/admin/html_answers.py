"""Success answers that Balrog sends as ``text/html``.

Many of Balrog's admin views answer with a bare Flask ``Response(json.dumps(...))`` or
``Response(status=200)``. Flask labels those ``text/html; charset=utf-8``, whatever
the body holds. Clients that replay or compare recorded sessions check the
Content-Type, so rulelog sends the same one. The JSON body is written by
``json.dumps`` with its default separators, as Balrog writes it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def html(body: str = "", status: int = 200) -> Response:
    """A text answer (or an empty one) labelled as Flask labels it."""
    return Response(body, status_code=status, media_type="text/html")


def html_json(value: dict[str, Any], status: int = 200) -> Response:
    """A JSON document sent as Balrog's ``Response(json.dumps(value))`` sends it."""
    return html(json.dumps(value), status)


def html_answer(description: str, example: str = "") -> dict[str, Any]:
    """The OpenAPI entry of an answer sent by ``html`` or ``html_json``."""
    media: dict[str, Any] = {"schema": {"type": "string"}}
    if example:
        media["example"] = example
    return {"description": description, "content": {"text/html": media}}


#: The usual example: a write's new data_version, as JSON text.
NEW_VERSION = '{"new_data_version": 2}'
