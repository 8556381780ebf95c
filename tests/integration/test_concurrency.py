"""Racing writers: exactly one of two updates with the same data_version lands."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from rulelog.api.config import open_app
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.errors import Conflict
from rulelog.projections.log import read_log
from tests.conftest import Store
from tests.samples import empty_blob, plain_rule

RELEASE = empty_blob("R-1")
RULE = plain_rule("R-1")


def _seed(store: Store) -> int:
    app = store.open_with_admins()
    app.create_release("R-1", "Firefox", RELEASE, changed_by="seed")
    return app.create_rule(RULE, changed_by="seed").rule_id


def _update(url: str, rule_id: int, priority: int, barrier: Any) -> str:
    app = open_app(url)
    app.get_rule(rule_id)  # connect before the race starts
    barrier.wait(timeout=30)
    try:
        app.update_rule(rule_id, 1, {"priority": priority}, changed_by="alice")
    except Conflict:
        return "conflict"
    return "landed"


def _updated_events(store: Store) -> list[Any]:
    return [e for e in read_log(store.open()) if isinstance(e.event, Rule.Updated)]


def test_two_threads_one_lands(store: Store) -> None:
    rule_id = _seed(store)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def run(priority: int) -> None:
        results.append(_update(store.url, rule_id, priority, barrier))

    threads = [threading.Thread(target=run, args=(p,)) for p in (20, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["conflict", "landed"]
    events = _updated_events(store)
    assert len(events) == 1
    assert store.open().get_rule(rule_id).fields["priority"] == events[0].event.changes["priority"]


def _process_main(url: str, rule_id: int, priority: int, barrier: Any, out: Any) -> None:
    out.put(_update(url, rule_id, priority, barrier))


@pytest.mark.parametrize("attempt", range(3))
def test_two_processes_one_lands(store: Store, attempt: int) -> None:
    rule_id = _seed(store)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(store.url, rule_id, p, barrier, out))
        for p in (40, 50)
    ]
    for proc in procs:
        proc.start()
    results = sorted(out.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    assert results == ["conflict", "landed"]
    assert len(_updated_events(store)) == 1
