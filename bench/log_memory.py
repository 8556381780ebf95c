"""What the log generator keeps in memory: the aggregates, and sets it picks from.

``bench/timeline_log.py`` plans every simulated command through the real
per-kind adapters, which find aggregates through an application; ``Memory``
answers those finds from the aggregates the generator made, so generating a
big log reads nothing back from the store.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.workflow.policies import SignoffPolicies

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase

A = TypeVar("A", bound=Aggregate)
K = TypeVar("K")


class Bag(Generic[K]):
    """A set that also picks a random member in constant time.

    ``rng.choice(list(a_set))`` copied the whole set per pick: with 100k rules
    that was most of the time of generating a big store.
    """

    def __init__(self) -> None:
        self.items: list[K] = []
        self.index: dict[K, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: K) -> None:
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)

    def discard(self, item: K) -> None:
        """Remove ``item`` by moving the last member into its place."""
        at = self.index.pop(item, None)
        if at is None:
            return
        last = self.items.pop()
        if at < len(self.items):
            self.items[at] = last
            self.index[last] = at

    def pick(self, rng: random.Random) -> K:
        return rng.choice(self.items)


class Memory:
    """The log's aggregates by id: what the per-kind adapters find instead of the store.

    ``find``, ``find_or_create`` and ``policies`` are the part of the
    application the adapters' ``current``, ``required`` and ``plan`` use.
    """

    def __init__(self) -> None:
        self.aggregates: dict[UUID, Aggregate] = {}

    def add(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self.aggregates[aggregate.id] = aggregate

    def find(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        found = self.aggregates.get(aggregate_id)
        return found if isinstance(found, cls) else None

    def find_or_create(self, aggregate_id: UUID, cls: type[A], create: Callable[[], A]) -> A:
        found = self.find(aggregate_id, cls)
        if found is None:
            found = create()
            self.aggregates[aggregate_id] = found
        return found

    def policies(self) -> SignoffPolicies:
        return self.find_or_create(ids.signoff_policies_id(), SignoffPolicies, SignoffPolicies)

    def as_app(self) -> AppBase:
        return cast("AppBase", self)
