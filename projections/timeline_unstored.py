"""The recorded times of positions the timeline's tables do not hold yet.

Where the database refuses the catch-up that would store them (a read-only
replica or role), the position/time index of the log after the tables'
position is kept here instead, in memory: two arrays of 8-byte integers,
searched by bisection. Each value is a function of the log alone (a running
maximum of event times), so these agree with whatever a writer stores later.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from threading import Lock


class Unstored:
    """Positions (ascending) and their recorded times in microseconds (non-decreasing)."""

    def __init__(self) -> None:
        self.positions = array("q")
        self.recorded = array("q")
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def last(self) -> int:
        """The last position held (0: none)."""
        return self.positions[-1] if self.positions else 0

    def extend(self, moments: Iterable[tuple[int, int]], recorded: int) -> None:
        """Add (position, event time) pairs after ``last``; ``recorded`` is the
        recorded time at the position before the first (the tables' last)."""
        with self._lock:
            if self.recorded:
                recorded = max(recorded, self.recorded[-1])
            for position, moment in moments:
                if position <= self.last:
                    continue  # another thread added it meanwhile
                recorded = max(recorded, moment)
                self.positions.append(position)
                self.recorded.append(recorded)

    def position_at(self, us: int) -> int:
        """The last position held recorded at or before ``us`` (0: none)."""
        found = bisect_right(self.recorded, us)
        return self.positions[found - 1] if found else 0

    def time_of(self, position: int) -> int | None:
        found = bisect_left(self.positions, position)
        if found < len(self.positions) and self.positions[found] == position:
            return self.recorded[found]
        return None
