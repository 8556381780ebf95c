"""A scrape that meets a worker's metric file mid-write is read again, not answered 503.

Under ``--workers N`` each worker writes its own mmap file and ``/metrics`` reads them
all; a read racing a write can fail to decode (seen under load as a 503 scrape).
"""

from __future__ import annotations

from pathlib import Path

import prometheus_client
import pytest

from rulelog.api import metrics


def test_a_failed_read_of_the_worker_files_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    real = prometheus_client.generate_latest
    calls: list[int] = []

    def racing(registry: object) -> bytes:
        calls.append(1)
        if len(calls) == 1:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "a value being written")
        return real(registry)  # type: ignore[arg-type]

    monkeypatch.setattr(prometheus_client, "generate_latest", racing)
    assert isinstance(metrics.metrics_response_body(), bytes) and len(calls) == 2


def test_a_read_that_keeps_failing_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))

    def broken(registry: object) -> bytes:
        raise ValueError("corrupt")

    monkeypatch.setattr(prometheus_client, "generate_latest", broken)
    with pytest.raises(ValueError):
        metrics.metrics_response_body()
