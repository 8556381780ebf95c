"""Release blobs a serving process keeps in memory, and where it loads them from.

Rows in the serving index carry a release's aggregate version, not its blob:
the blob at exactly that version is loaded on first use and kept here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from rulelog.domain import ids

#: Loads the blob of release ``name`` at aggregate version ``version``.
BlobLoader = Callable[[str, int], Mapping[str, Any]]


def app_loader(app: Any) -> BlobLoader:
    """Blobs read from the event store: the release aggregate at that version."""

    def load(name: str, version: int) -> Mapping[str, Any]:
        release = app.repository.get(ids.release_id(name), version=version)
        return release.blob

    return load


#: Blobs a serving process keeps in memory at most (``RULELOG_BLOB_CACHE_SIZE``).
DEFAULT_BLOB_CACHE = 8192


class BlobCache:
    """Release blobs by (name, aggregate version); safe to share between threads.

    Bounded: a store whose rules map tens of thousands of releases would
    otherwise hold every blob (1.7 GB for 72k releases); past ``limit`` the
    oldest loaded blob is dropped, and a request that needs it again loads it
    off the event loop as for any blob not in memory. Reads take no lock;
    inserts and evictions take one, so concurrent loads never evict twice.
    """

    def __init__(self, loader: BlobLoader | None = None, limit: int = DEFAULT_BLOB_CACHE) -> None:
        self.loader = loader
        self.limit = max(1, limit)
        self._blobs: dict[tuple[str, int], Mapping[str, Any]] = {}
        self._inserting = threading.Lock()

    def get(self, name: str, version: int) -> Mapping[str, Any] | None:
        return self._blobs.get((name, version))

    def load(self, name: str, version: int) -> Mapping[str, Any]:
        key = (name, version)
        found = self._blobs.get(key)
        if found is not None:
            return found
        if self.loader is None:
            raise LookupError(f"no blob loader to load release {name!r}")
        data = self.loader(name, version)
        self.put(name, version, data)  # a racing loader stores an equal value: harmless
        return data

    def put(self, name: str, version: int, data: Mapping[str, Any]) -> None:
        with self._inserting:
            self._blobs[(name, version)] = data
            while len(self._blobs) > self.limit:
                self._blobs.pop(next(iter(self._blobs)), None)

    @property
    def full(self) -> bool:
        return len(self._blobs) >= self.limit

    def retain(self, current: Mapping[str, int]) -> None:
        """Forget versions that are no longer current (changed or deleted releases)."""
        with self._inserting:
            for key in list(self._blobs):
                if current.get(key[0]) != key[1]:
                    self._blobs.pop(key, None)

    def clear(self) -> None:
        self._blobs.clear()

    def __len__(self) -> int:
        return len(self._blobs)
