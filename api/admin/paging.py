"""Balrog's paging of revision lists: ``page`` (from 1) of ``limit`` rows (10 by default).

One dependency for the routes that declare both as query parameters, so they
are validated, documented and applied the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

T = TypeVar("T")


@dataclass(frozen=True)
class Paging:
    page: int
    limit: int

    def of(self, rows: list[T]) -> list[T]:
        """The rows of this page."""
        start = self.limit * (self.page - 1)
        return rows[start : start + self.limit]


def _paging(page: int = Query(1, ge=1), limit: int = Query(10, ge=1)) -> Paging:
    return Paging(page, limit)


#: A route parameter: the requested page.
Page = Annotated[Paging, Depends(_paging)]
