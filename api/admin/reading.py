"""The admin app's read model: the catalogue folded up to the head of the log.

Balrog's admin API reads its tables directly, so a client sees its own write
in the next GET. ``CatalogReader`` gives the same guarantee from the event
log: every read first folds whatever was appended since the last one (one
query, usually empty), under a lock, and the handler builds its answer while
still holding it -- a fold never mutates a catalogue being serialised.
Ended scheduled changes are kept (Balrog lists them with ``?all=1``), and
every rule's revisions are recorded as they are folded. The history they keep
is identified by log positions; routes answer Balrog's ids (``change_ids``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rulelog.api.metrics import record_poll
from rulelog.projections.admin_history import BalrogHistory
from rulelog.projections.change_ids import ChangeIds
from rulelog.projections.log import LoggedEvent, read_log
from rulelog.projections.revisions import RuleRevisions
from rulelog.projections.sc_revisions import ScRevisions
from rulelog.projections.state import Catalog
from rulelog.services.application import RulelogApp

#: Called after each event is folded into the catalogue, for read models kept alongside.
Recorder = Callable[[LoggedEvent, Catalog], None]


@dataclass
class ReadModel:
    """What one read sees: the catalogue and the models recorded alongside it."""

    catalog: Catalog = field(default_factory=lambda: Catalog(keep_ended=True))
    rule_revisions: RuleRevisions = field(default_factory=RuleRevisions)
    #: Balrog's history tables (rules, permissions, required signoffs, their changes).
    history: BalrogHistory = field(default_factory=BalrogHistory)
    sc_revisions: ScRevisions = field(default_factory=ScRevisions)
    #: The change_ids Balrog's history routes answer (an import's, else positions).
    change_ids: ChangeIds = field(default_factory=ChangeIds)


class CatalogReader:
    def __init__(self, service: RulelogApp) -> None:
        self.service = service
        self.model = ReadModel()
        self._recorders: list[Recorder] = [
            self.model.change_ids.record,
            self.model.rule_revisions.record,
            self.model.sc_revisions.record,
            self.model.history.record,
        ]
        self._lock = threading.Lock()

    def catch_up(self) -> int:
        """Fold what is new; the caller holds the lock. Returns the events folded."""
        catalog = self.model.catalog
        folded = 0
        for logged in read_log(self.service, start=catalog.position + 1):
            catalog.apply(logged)
            for record in self._recorders:
                record(logged, catalog)
            folded += 1
        return folded

    @contextmanager
    def current(self) -> Iterator[ReadModel]:
        """The read model at the head of the log, held still while the block runs."""
        with self._lock:
            folded = self.catch_up()
            # The admin folds on demand, so it is at the head whenever it answers: its
            # position and last read's new events are reported; "seconds since the last
            # read" would only measure how long the admin API went unused.
            record_poll(self.model.catalog.position, folded, None)
            yield self.model
