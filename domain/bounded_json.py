"""JSON text from callers, parsed with a bound on its nesting.

Balrog takes some fields as JSON *inside* a JSON string (a permission's
``options``, a release's ``blob``/``data``), so they escape the request
parser's own limits: 10,000 nested brackets made Python's decoder raise
``RecursionError`` (issue 17), and anything just under the interpreter's
limit would then break whatever walks the value. Real values nest a few
levels (a Firefox release blob: under ten), so ``MAX_DEPTH`` is generous.
A value past it is refused as invalid JSON, in the decoder's own error type,
so every caller's "not valid JSON" answer covers it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "depth_exceeded", "loads"]

MAX_DEPTH = 64


def depth_exceeded(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in ``value`` nest deeper than ``limit`` (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads(text: str | bytes) -> Any:
    """``json.loads``, refusing values nested deeper than ``MAX_DEPTH`` with a
    ``json.JSONDecodeError``."""
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        too_deep = True
    else:
        too_deep = depth_exceeded(value)
    if too_deep:
        document = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", document[:100], 0)
    return value
