"""The collector's handling around decoded states and long folds (``checkpoints``):
what they make ends up out of the young generations, and a process's own frozen
objects are never handed back."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from rulelog.projections import checkpoints
from rulelog.projections.checkpoints import collection_paused, freeze_loaded, long_fold


@pytest.fixture(autouse=True)
def nothing_frozen(monkeypatch: Any) -> Iterator[None]:
    monkeypatch.setattr(checkpoints, "_keeps_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()


def made() -> list[dict[str, list[int]]]:
    return [{"row": [n]} for n in range(1000)]


def seen_by_collector() -> set[int]:
    """What the collector does not see (``gc.get_objects`` leaves frozen ones out)."""
    return {id(o) for o in gc.get_objects()}


def test_a_decoded_state_goes_to_the_oldest_generation() -> None:
    with collection_paused():
        assert not gc.isenabled()
        state = made()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(state) in oldest and id(state[-1]) in oldest


def test_a_process_that_froze_what_it_loaded_keeps_it_frozen() -> None:
    kept = made()
    freeze_loaded()
    with collection_paused():
        state = made()
    # Nothing frozen was handed back (the count itself may fall: frozen objects
    # that die are freed as any others).
    assert gc.get_freeze_count() > 0
    assert id(kept) not in seen_by_collector()
    assert id(state) in seen_by_collector()


def test_a_long_fold_freezes_what_it_built_and_hands_it_back() -> None:
    with long_fold() as settled:
        state = made()
        settled()
        assert gc.get_freeze_count() > 0
        assert id(state) not in seen_by_collector()
    assert gc.get_freeze_count() == 0
    assert id(state) in seen_by_collector()


def test_a_long_fold_in_a_process_that_froze_what_it_loaded_leaves_it_frozen() -> None:
    freeze_loaded()
    with long_fold() as settled:
        settled()
    assert gc.get_freeze_count() > 0


class Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_long_fold_collects_only_when_settled_and_never_freezes_garbage() -> None:
    with long_fold() as settled:
        assert not gc.isenabled()
        dead = weakref.ref(Node())
        assert dead() is not None  # no collection runs by itself within the fold
        settled()
        assert dead() is None  # collected, not frozen
    assert gc.isenabled()
