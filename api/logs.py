"""structlog, configured once for every entry point.

One event per line: JSON when the output is not a terminal (so log shippers
parse it), coloured key=value when a person is watching. Context such as a
request id is bound with ``structlog.contextvars`` and appears on every line
logged while it is bound.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

#: Where ``configure_logging`` sent the lines, and from which level, for writers
#: that format their own lines (``api.request_log``) but must go to the same place.
_stream: TextIO | None = None
_level = logging.INFO


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    global _stream, _level
    out = stream or sys.stderr
    _stream = out
    _level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor
    if out.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)


def log_stream() -> TextIO:
    return _stream or sys.stderr


def request_lines_enabled() -> bool:
    """Request lines are INFO: written unless the configured level is above that."""
    return _level <= logging.INFO
