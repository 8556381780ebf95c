"""One structured line per request, cheap enough for the update hot path.

The public server answers thousands of requests per second per core; going
through structlog's processor chain and a write for each of them cost about
a sixth of an update answer. A request's line is therefore formatted by one
f-string -- the keys structlog's JSON renderer writes (``event``, ``level``,
``timestamp``, ``request_id``, ...) -- and queued, and a thread writes the
queued lines in one call every ``interval`` seconds, or sooner when
``batch`` lines are waiting. Formatting stays on the request (a few
microseconds) rather than in that thread: a thread formatting thousands of
lines at once holds the interpreter long enough to show in the p99.

The stream, level and format are the ones ``api.logs.configure_logging`` set
up (a MozLog line when ``RULELOG_LOG_FORMAT=mozlog``, as every other line);
below INFO nothing is recorded at all.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from rulelog.api import logs
from rulelog.api.flush_thread import FlushThread

__all__ = ["RequestLog"]

#: Longest request target written to the log (attackers send long ones).
LOGGED_TARGET_MAX = 1000

_quote = json.encoder.encode_basestring_ascii  # the C encoder of one JSON string


class _Clock:
    """ISO 8601 UTC timestamps, the date and time formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        moment = time.time()
        second = int(moment)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{int((moment - second) * 1e6):06d}Z"


class RequestLog:
    """Batches request lines and writes them from a thread of its own."""

    def __init__(
        self,
        worker: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.25,
        batch: int = 1024,
    ) -> None:
        self.worker = worker
        self._worker = _quote(worker)
        self._stream = stream
        self.enabled = logs.request_lines_enabled() if enabled is None else enabled
        self._mozlog = logs.log_format() == "mozlog"
        self._mozlog_head = (
            f'"Type": "request", "Logger": "rulelog", "Hostname": '
            f'{_quote(socket.gethostname())}, "EnvVersion": "2.0", "Severity": 6, '
            f'"Pid": {os.getpid()}'
        )
        self.interval = interval
        self.batch = batch
        self._queue: deque[str] = deque()
        self._clock = _Clock()
        self._writing = threading.Lock()
        self._writer = FlushThread("rulelog-request-log", interval, self._flush_quietly)

    @property
    def stream(self) -> TextIO:
        return self._stream or logs.log_stream()

    def record(
        self,
        request_id: str,
        method: str,
        target: bytes,
        status: int,
        duration: float,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one request's line (``target`` is the raw path and query)."""
        if not self.enabled:
            return
        text = target[:LOGGED_TARGET_MAX].decode("latin-1")
        more = "".join(f", {_quote(k)}: {json.dumps(v)}" for k, v in extra.items()) if extra else ""
        fields = (
            f'"method": {_quote(method)}, "target": {_quote(text)}, "status": {status}, '
            f'"duration_ms": {round(duration * 1000, 3)}, "worker": {self._worker}{more}, '
        )
        if self._mozlog:
            line = (
                f'{{"Timestamp": {time.time_ns()}, {self._mozlog_head}, "Fields": {{{fields}'
                f'"msg": "request", "request_id": {_quote(request_id)}}}}}\n'
            )
        else:
            line = (
                f'{{{fields}"event": "request", "request_id": {_quote(request_id)}, '
                f'"level": "info", "timestamp": "{self._clock.now()}"}}\n'
            )
        self._queue.append(line)
        if not self._writer.running:
            self._start()
        elif len(self._queue) >= self.batch:
            self._writer.wake()

    def flush(self) -> None:
        """Write every queued line now (also called on shutdown)."""
        with self._writing:
            queue, lines = self._queue, []
            for _ in range(len(queue)):
                lines.append(queue.popleft())
            if lines:
                stream = self.stream
                stream.write("".join(lines))
                stream.flush()

    def close(self) -> None:
        self._writer.stop()
        self.flush()

    def _start(self) -> None:
        if self._writer.start():
            atexit.register(self.flush)  # lines of a process that ends without close()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # a closed or full stream must not stop serving
            self._queue.clear()
