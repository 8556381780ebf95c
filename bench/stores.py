"""Fresh, empty stores for benchmarks (a temp SQLite file or a new PostgreSQL schema), the
kinds reachable, and running a benchmark's client threads."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_SERVER = os.environ.get(
    "RULELOG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def postgres_available() -> bool:
    try:
        with psycopg.connect(_libpq(PG_SERVER), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def reachable(kinds: Iterable[str] | None) -> Iterator[str]:
    """The store kinds asked for (both by default), saying so for PostgreSQL when it is not
    reachable and leaving it out."""
    for kind in kinds or ("sqlite", "postgres"):
        if kind == "postgres" and not postgres_available():
            print(f"{kind:9} skipped: PostgreSQL not reachable")
            continue
        yield kind


@contextmanager
def fresh_store(kind: str) -> Iterator[str]:
    """Yield the URL of a new empty store of ``kind`` ("sqlite" or "postgres")."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="rulelog-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    schema = f"rulelog_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(PG_SERVER), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in PG_SERVER else "?"
        yield f"{PG_SERVER}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_libpq(PG_SERVER), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run_all(threads: list[threading.Thread]) -> float:
    """Start every thread, wait for them all: the wall seconds that took."""
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
