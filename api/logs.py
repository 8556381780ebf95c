"""One structured log stream for everything a rulelog process logs.

rulelog's own events go through structlog; the standard library's ``logging``
(uvicorn, SQLAlchemy, eventsourcing, warnings) is routed through the same
processors by a root handler, so every line has the same shape whichever
library wrote it. ``RULELOG_LOG_FORMAT`` picks the shape:

* ``mozlog``: Mozilla's MozLog JSON, as Balrog emits it (``Timestamp`` in
  nanoseconds, ``Type`` the logger, ``Logger``, ``Hostname``, ``EnvVersion``
  2.0, syslog ``Severity``, ``Pid``, everything else under ``Fields``);
* ``json``: one flat JSON object per line (``event``, ``level``, ``timestamp``,
  ``logger`` and the event's own keys);
* ``console``: coloured key=value for a person at a terminal;
* ``auto`` (default): ``console`` on a terminal, else ``json``.

Context such as a request id is bound with ``structlog.contextvars`` and
appears on every line logged while it is bound. With ``RULELOG_SENTRY_DSN``
set, errors (and their exceptions) are also reported to Sentry.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from typing import Any, TextIO

import structlog

__all__ = [
    "FORMATS",
    "configure_logging",
    "configure_process",
    "configure_sentry",
    "get_logger",
    "log_format",
    "log_stream",
    "request_lines_enabled",
]

FORMATS = ("auto", "mozlog", "json", "console")
#: Python level name -> syslog severity, as MozLog wants it.
SYSLOG_SEVERITY = {"critical": 2, "error": 3, "warning": 4, "info": 6, "debug": 7}
_HANDLER_NAME = "rulelog"
#: Keys the stdlib bridge adds that MozLog and JSON lines do not need.
_DROPPED = ("_record", "_from_structlog")


class MozLog:
    """Reshape an event dict into a MozLog object (rendered by the JSON renderer after it)."""

    def __init__(self, logger_name: str = "rulelog") -> None:
        self.logger_name = logger_name
        self.hostname = socket.gethostname()
        self.pid = os.getpid()

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in event.items() if k not in ("level", "logger", "timestamp")}
        fields["msg"] = fields.pop("event", "")
        level = str(event.get("level", method))
        return {
            "Timestamp": time.time_ns(),
            "Type": event.get("logger") or "rulelog",
            "Logger": self.logger_name,
            "Hostname": self.hostname,
            "EnvVersion": "2.0",
            "Severity": SYSLOG_SEVERITY.get(level, 7),
            "Pid": self.pid,
            "Fields": fields,
        }


class _NamedWriteLoggerFactory:
    """structlog's ``WriteLogger`` (one write per line), remembering ``get_logger``'s name."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, *args: Any) -> structlog.WriteLogger:
        logger = structlog.WriteLogger(self.out)
        logger.name = args[0] if args else None  # type: ignore[attr-defined]
        return logger


def _add_logger_name(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    if "logger" not in event:
        name = getattr(logger, "name", None)
        if name:
            event["logger"] = name
    return event


def _add_record_name(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A ``logging`` record's logger name (``uvicorn.error``, ``sqlalchemy.engine``)."""
    record = event.get("_record")
    if record is not None:
        event.setdefault("logger", record.name)
    return event


def _drop_bridge_keys(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in _DROPPED:
        event.pop(key, None)
    return event


def _renderer(format: str, out: TextIO) -> list[structlog.typing.Processor]:
    if format == "auto":
        format = "console" if out.isatty() else "json"
    if format == "console":
        return [structlog.dev.ConsoleRenderer()]
    if format == "mozlog":
        return [structlog.processors.format_exc_info, MozLog(), _json()]
    return [structlog.processors.format_exc_info, _json()]


def _json() -> structlog.typing.Processor:
    return structlog.processors.JSONRenderer(default=repr)


#: Where ``configure_logging`` sent the lines, from which level and in which format, for
#: writers that format their own lines (``api.request_log``) but must go to the same place.
_stream: TextIO | None = None
_level = logging.INFO
_format = "json"


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, *, format: str = "auto"
) -> None:
    """Route structlog and the standard library's logging to ``stream`` in ``format``."""
    global _stream, _level, _format
    out = stream or sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    _stream, _level = out, numeric
    _format = format if format != "auto" else ("console" if out.isatty() else "json")
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if _sentry_on:
        shared.append(_report_to_sentry)
    renderer = _renderer(format, out)
    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (PrintLogger writes the newline separately), so lines from
        # threads and from the stdlib handler below never interleave.
        logger_factory=_NamedWriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[_add_record_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _drop_bridge_keys,
                *renderer,
            ],
        )
    )
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier call; others' (pytest's) stay
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # uvicorn gives its loggers handlers of their own; let them reach ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "eventsourcing"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    logging.captureWarnings(True)


def configure_process(settings: Any, level: str | None = None, default: str = "INFO") -> None:
    """Logging (and Sentry, when configured) for a process started with ``settings``."""
    dsn = settings.sentry_dsn.get_secret_value() if settings.sentry_dsn else None
    configure_sentry(dsn)
    configure_logging(level or settings.log_level or default, format=settings.log_format)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger whose lines carry ``logger=name`` (MozLog's ``Type``)."""
    return structlog.get_logger(name)


def log_stream() -> TextIO:
    return _stream or sys.stderr


def request_lines_enabled() -> bool:
    """Request lines are INFO: written unless the configured level is above that."""
    return _level <= logging.INFO


def log_format() -> str:
    """The format lines are written in: ``mozlog``, ``json`` or ``console``."""
    return _format


_sentry_on = False


def configure_sentry(dsn: str | None, *, release: str | None = None) -> bool:
    """Report errors to Sentry when a DSN is configured; ``sentry_sdk`` is imported only then."""
    global _sentry_on
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    # Errors reach Sentry once, from the shared processor chain (not again from logging).
    sentry_sdk.init(
        dsn=dsn,
        release=release,
        send_default_pii=False,
        integrations=[LoggingIntegration(level=None, event_level=None)],
    )
    _sentry_on = True
    return True


def _report_to_sentry(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Errors go to Sentry too: the exception when there is one, else the event name."""
    if method not in ("error", "critical", "exception"):
        return event
    import sentry_sdk

    exc_info = event.get("exc_info")
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        sentry_sdk.capture_exception(exc_info)
    elif isinstance(exc_info, tuple) and exc_info[1] is not None:
        sentry_sdk.capture_exception(exc_info[1])
    else:
        sentry_sdk.capture_message(str(event.get("event")), level="error")
    return event
