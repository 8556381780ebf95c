"""How the public app writes its answers, as Balrog's Flask and connexion stack does.

Flask's ``jsonify`` (compact, sorted keys, trailing newline) for lists and
``/__version__``; connexion's problem documents for 404s and refused query
parameters; ``json.dumps`` of single objects, pretty on request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from rulelog.api.excerpt import clipped

__all__ = ["HTML", "JSON", "TEXT", "dumps", "flask_json", "problem"]

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


def flask_json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """What Flask's ``jsonify`` writes outside debug mode."""
    body = json.dumps(value, separators=(",", ":"), sort_keys=True) + "\n"
    return Response(body, status, dict(headers or {}), media_type=JSON)


def problem(status: int, title: str | None, detail: str, **ext: Any) -> Response:
    """connexion's ``problem()``: an RFC 7807 document, as Balrog's spec layer writes it."""
    document = {"type": "about:blank", "title": title, "detail": detail, "status": status, **ext}
    document = clipped(document)  # never quote more than an excerpt of the input
    body = json.dumps(document, indent=2, sort_keys=True) + "\n"
    return Response(body, status, media_type="application/problem+json")


def dumps(value: Any, *, sort_keys: bool = False, pretty: bool = False) -> str:
    """``json.dumps`` as Balrog's single-object routes call it (``?pretty``: indented)."""
    if pretty:
        return json.dumps(value, indent=4, separators=(",", ": "), sort_keys=sort_keys)
    return json.dumps(value, sort_keys=sort_keys)
