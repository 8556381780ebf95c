"""Short excerpts of caller input, for error answers and log lines.

An error answer names what was wrong, and often quotes it; quoting all of it
lets a caller make the server build (and log) an answer as large as what they
sent (issue 17: a 5 MB ``comment`` came back as a 5 MB error). Every problem
document passes through ``clipped``, so no answer quotes more than
``EXCERPT_CHARS`` characters of any one value.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXCERPT_CHARS", "clipped", "excerpt"]

EXCERPT_CHARS = 500
#: Members of a list or object kept in an error answer; the rest are summarised.
EXCERPT_ITEMS = 50


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text``, or its first ``limit`` characters and how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def clipped(value: Any, depth: int = 0) -> Any:
    """``value`` with every string excerpted and containers cut short (JSON-shaped)."""
    if isinstance(value, str):
        return excerpt(value)
    if depth > 5:
        return "..."
    if isinstance(value, list | tuple):
        kept = [clipped(v, depth + 1) for v in value[:EXCERPT_ITEMS]]
        return [*kept, "..."] if len(value) > EXCERPT_ITEMS else kept
    if isinstance(value, dict):
        items = list(value.items())[:EXCERPT_ITEMS]
        return {excerpt(str(k), 100): clipped(v, depth + 1) for k, v in items}
    return value
