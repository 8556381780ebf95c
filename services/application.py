"""The command surface of rulelog: one ``eventsourcing`` Application.

Each command reads the aggregates it needs, calls their domain methods, and
saves every touched aggregate in one atomic ``save``. Optimistic concurrency
is the store's: two writers of the same aggregate version meet an
``IntegrityError``, which a command retries with a fresh read (so a stale
``data_version`` is then reported as ``Conflict``, and an id allocation race
simply takes the next id).

The commands live in groups by subject -- catalogue (rules, releases,
shutoffs, pins, import), access (users, permissions, roles, signoff
policies), workflow (scheduled changes, enactment, uptake), signoffs, API
tokens, expectations -- each a mixin on ``AppBase`` alone, composed once here.
A group that needs another's rule calls a function of that group's module
(the direct-change path is ``services.changes``; a scheduled change by id is
``services.workflow.scheduled_change``), never an inherited method, so the
groups depend on ``AppBase`` and those functions only.
"""

from __future__ import annotations

from typing import ClassVar

from eventsourcing.utils import get_topic

from rulelog.adapters.pg_appends import OneTripFactory
from rulelog.domain.access.users import User
from rulelog.domain.balrog.marks import BalrogImport
from rulelog.domain.catalog.releases import Release, ReleaseUsage
from rulelog.domain.catalog.rules import Rule
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.policies import SignoffPolicies
from rulelog.domain.workflow.scheduling import PendingTarget
from rulelog.services.access import AccessCommands
from rulelog.services.catalog import CatalogCommands
from rulelog.services.expectations import ExpectationCommands
from rulelog.services.signoffs import SignoffCommands
from rulelog.services.tokens import TokenCommands
from rulelog.services.workflow import WorkflowCommands

#: The ``PERSISTENCE_MODULE`` of a store opened by URL: eventsourcing-sqlalchemy's, with
#: the log read through Core (``adapters.sql_store``) and PostgreSQL appends in one
#: round trip (``adapters.pg_appends`` says why).
PERSISTENCE_MODULE = get_topic(OneTripFactory)

#: Aggregates no command of this class writes but a store may hold (the Balrog import
#: writes them): importing them here registers their event topics, so any process that
#: opens the application can decode the whole log.
DECODED_ONLY = (BalrogImport,)


class RulelogApp(
    CatalogCommands,
    AccessCommands,
    WorkflowCommands,
    SignoffCommands,
    TokenCommands,
    ExpectationCommands,
):
    """Every rulelog command, on one event store."""

    name = "rulelog"
    #: A hot rule or a nightly release takes thousands of edits; without snapshots
    #: every read would replay them all (and a release event carries its whole blob).
    snapshotting_intervals: ClassVar = {
        Rule: 50,
        Release: 10,
        User: 50,
        Sequence: 50,
        ReleaseUsage: 50,
        SignoffPolicies: 50,
        PendingTarget: 50,
    }
    #: Read by nearly every command, rarely changed: kept decoded, and brought up
    #: to date by the same statement that reads a command's other aggregates.
    cached_aggregates = (User, SignoffPolicies)
