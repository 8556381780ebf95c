"""Prometheus metrics: what an operator watches (documented in the README's "Metrics").

``rulelog serve`` runs prometheus-client in multiprocess mode: before uvicorn
starts, ``prepare_multiprocess_metrics`` points ``PROMETHEUS_MULTIPROC_DIR`` at
a fresh directory for this run (or empties the one the operator chose), every
worker writes its samples there, and ``/metrics`` -- answered by whichever
worker gets the scrape -- merges all of them. So counters are right under
``--workers N``, and gauges that belong to one process (its log position)
carry a ``pid`` label. Without the variable (tests building an app in
process) the ordinary in-process registry is used.

The variable must be set before ``prometheus_client`` is first imported (it
picks its storage then), so this module imports it only inside functions
and the metric objects are made on first use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from types import SimpleNamespace
from typing import Any

import structlog

__all__ = [
    "CONTENT_TYPE",
    "count_appended_events",
    "count_events",
    "metrics",
    "metrics_response_body",
    "prepare_multiprocess_metrics",
    "record_poll",
    "record_request",
    "route_template",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Reads of the workers' metric files one scrape may take (see metrics_response_body).
MULTIPROC_READS = 3
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Latency buckets (seconds): update answers take well under a millisecond to ~100 ms.
log = structlog.get_logger("rulelog.metrics")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def prepare_multiprocess_metrics() -> str:
    """A clean ``PROMETHEUS_MULTIPROC_DIR`` for this run, set in the environment workers inherit."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):  # samples of an earlier run would be summed in
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))
    else:
        path = tempfile.mkdtemp(prefix="rulelog-metrics-")
        os.environ[MULTIPROC_ENV] = path
    return path


def discard_multiprocess_dir(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


_making = threading.Lock()
_metrics: SimpleNamespace | None = None


def metrics() -> SimpleNamespace:
    """Every rulelog metric, made once per process (the follower thread and the event
    loop may ask at the same moment, hence the lock)."""
    global _metrics
    if _metrics is None:
        with _making:
            if _metrics is None:
                _metrics = _make()
    return _metrics


def _make() -> SimpleNamespace:
    from prometheus_client import Counter, Gauge, Histogram

    multiprocess = bool(os.environ.get(MULTIPROC_ENV))
    # A gauge of one process: every process's value, labelled by pid.
    per_process: dict[str, Any] = {"multiprocess_mode": "all"} if multiprocess else {}
    # A gauge whose freshest value is the truth (only one agent sets it at a time).
    latest: dict[str, Any] = {"multiprocess_mode": "mostrecent"} if multiprocess else {}
    return SimpleNamespace(
        requests=Counter(
            "rulelog_http_requests",
            "HTTP requests answered, by app, route template, method and status.",
            ["app", "route", "method", "status"],
        ),
        latency=Histogram(
            "rulelog_http_request_duration_seconds",
            "Time to answer an HTTP request, by app and route template.",
            ["app", "route"],
            buckets=LATENCY_BUCKETS,
        ),
        cache=Counter(
            "rulelog_blob_cache",
            "Update answers whose release blobs were all in memory (hit) or had to be "
            "loaded (miss).",
            ["result"],
        ),
        answer_cache=Counter(
            "rulelog_answer_cache",
            "Update requests answered from the answer cache (hit) or evaluated (miss).",
            ["result"],
        ),
        events=Counter(
            "rulelog_events_appended",
            "Domain events appended to the log by this deployment's processes, by kind.",
            ["kind"],
        ),
        position=Gauge(
            "rulelog_projection_position",
            "The last log position this process has folded into its view.",
            **per_process,
        ),
        lag_events=Gauge(
            "rulelog_projection_lag_events",
            "Events that were new when this process last read the log (0: caught up).",
            **per_process,
        ),
        lag_seconds=Gauge(
            "rulelog_projection_lag_seconds",
            "Seconds since this process last read the log successfully.",
            **per_process,
        ),
        agent_runs=Counter("rulelog_agent_runs", "Agent passes, by outcome.", ["outcome"]),
        agent_enactments=Counter(
            "rulelog_agent_enactments", "Scheduled changes the agent enacted, by kind.", ["kind"]
        ),
        expectations_failing_live=Counter(
            "rulelog_expectations_failing_live",
            "Expectations found failing on live right after an enactment (agent or by hand).",
        ),
        agent_failures=Counter(
            "rulelog_agent_failures",
            "Agent passes that failed (database errors included), by error type.",
            ["error"],
        ),
        scheduled_pending=Gauge(
            "rulelog_scheduled_changes_pending",
            "Scheduled changes not yet enacted or cancelled, at the agent's last pass.",
            **latest,
        ),
        scheduled_due=Gauge(
            "rulelog_scheduled_changes_due",
            "Pending scheduled changes whose time or uptake has come, at the agent's last pass.",
            **latest,
        ),
    )


def metrics_response_body() -> bytes:
    """The Prometheus text exposition of every process's samples (or this process's)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        # Each worker writes its own mmap file while this reads them all; a read that
        # meets a value being written can fail to decode. A second read is clean.
        for _ in range(MULTIPROC_READS - 1):
            try:
                return generate_latest(registry)
            except Exception as error:
                log.warning("metrics.read_retried", error=f"{type(error).__name__}: {error}")
        return generate_latest(registry)
    metrics()  # so an idle process still shows every metric
    return generate_latest(REGISTRY)


def route_template(scope: dict[str, Any], templates: dict[Any, str]) -> str:
    """A bounded label for the route that answered: never the raw path."""
    path = scope.get("path", "")
    for prefix in ("/update/", "/json/"):
        if path.startswith(prefix):
            version = path[len(prefix) :].split("/", 1)[0]
            return f"{prefix}{version if version.isdigit() and len(version) == 1 else '{v}'}/..."
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    endpoint = scope.get("endpoint")
    if endpoint is not None and endpoint in templates:
        return templates[endpoint]
    return "other"


def record_request(
    app: str, route: str, method: str, status: int, seconds: float, cache: str | None
) -> None:
    """One request's samples: recorded in one place, the outermost middleware."""
    m = metrics()
    m.requests.labels(app, route, method, str(status)).inc()
    m.latency.labels(app, route).observe(seconds)
    if cache is not None:
        m.cache.labels(cache).inc()


def record_answer_cache(answer: str | None, blobs: str | None) -> None:
    """An update request's cache outcomes: the answer cache's, and for an evaluated
    answer whether its blobs were all in memory."""
    m = metrics()
    if answer is not None:
        m.answer_cache.labels(answer).inc()
    if blobs is not None:
        m.cache.labels(blobs).inc()


def count_appended_events(app: Any) -> None:
    """Count what ``app`` appends: eventsourcing calls ``notify`` after every save."""
    original = app.notify

    def notify(new_events: Any) -> None:
        count_events(new_events)
        original(new_events)

    app.notify = notify


def count_events(events: Any) -> None:
    """Count appended events by kind (their fixed topic, without ``rulelog:``)."""
    counter = metrics().events
    for event in events:
        topic = getattr(type(event), "TOPIC", None) or type(event).__qualname__
        counter.labels(str(topic).removeprefix("rulelog:")).inc()


def record_poll(position: int, new_events: int | None, last_success: float | None) -> None:
    """After each poll of the log: this process's position and how far behind it may be."""
    m = metrics()
    m.position.set(position)
    if new_events is not None:
        m.lag_events.set(new_events)
    if last_success is not None:
        m.lag_seconds.set(max(0.0, time.monotonic() - last_success))
