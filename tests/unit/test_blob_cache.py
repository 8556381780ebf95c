"""The serving process's blob cache stays within its bound, and loads what it lost."""

from __future__ import annotations

from typing import Any

from rulelog.projections.blobs import BlobCache


def counting_loader() -> tuple[dict[tuple[str, int], int], Any]:
    loads: dict[tuple[str, int], int] = {}

    def load(name: str, version: int) -> dict[str, Any]:
        loads[(name, version)] = loads.get((name, version), 0) + 1
        return {"name": name, "v": version}

    return loads, load


def test_the_cache_never_holds_more_than_its_limit_and_drops_the_oldest() -> None:
    loads, load = counting_loader()
    cache = BlobCache(load, limit=3)
    for n in range(5):
        assert cache.load(f"r{n}", 1) == {"name": f"r{n}", "v": 1}
        assert len(cache) <= 3
    assert cache.full
    assert cache.get("r0", 1) is None and cache.get("r1", 1) is None
    assert cache.get("r4", 1) == {"name": "r4", "v": 1}
    assert cache.load("r0", 1) == {"name": "r0", "v": 1}  # dropped: loaded again
    assert loads[("r0", 1)] == 2 and loads[("r4", 1)] == 1


def test_a_blob_in_the_cache_is_not_loaded_again() -> None:
    loads, load = counting_loader()
    cache = BlobCache(load, limit=10)
    for _ in range(3):
        cache.load("a", 2)
    assert loads == {("a", 2): 1}


def test_retain_forgets_versions_no_longer_current() -> None:
    _, load = counting_loader()
    cache = BlobCache(load, limit=10)
    cache.load("a", 1)
    cache.load("b", 1)
    cache.retain({"a": 2, "b": 1})
    assert cache.get("a", 1) is None and cache.get("b", 1) is not None
