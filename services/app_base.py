"""What every command module of the application shares.

Reading aggregates by id, the acting user's permissions, the retry loop that
turns a lost write race into a fresh attempt, and the data_version check.
The command groups (catalogue, access, workflow, signoffs, tokens,
expectations) are each a mixin over this base alone, composed into one
``eventsourcing.Application`` in ``services.application``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding
from eventsourcing.utils import EnvType

from rulelog.adapters.batch_reads import BatchReader
from rulelog.domain import ids
from rulelog.domain.access.permissions import UNSET, require_change
from rulelog.domain.access.users import User
from rulelog.domain.bounds import id_from
from rulelog.domain.errors import Conflict, Invalid, PermissionDenied, SignoffRequired
from rulelog.domain.serving.blobs.validation import DomainAllowlist
from rulelog.domain.workflow.policies import SignoffPolicies
from rulelog.domain.workflow.signoff_rules import Requirement, reduce_requirements

T = TypeVar("T")
_UNIT: ContextVar[dict[UUID, Any] | None] = ContextVar("rulelog_unit_of_work", default=None)
#: Aggregates read ahead for the current attempt of a command (None: known absent).
_AHEAD: ContextVar[dict[UUID, Any] | None] = ContextVar("rulelog_read_ahead", default=None)
A = TypeVar("A", bound=Aggregate)

#: How often a command re-reads and retries after losing a write race.
WRITE_ATTEMPTS = 5


def requirements_as_data(reqs: list[Requirement]) -> list[dict[str, Any]]:
    """Requirements as stored in events: plain, sorted, the highest count per role."""
    return [
        {"role": r.role, "signoffs_required": r.signoffs_required}
        for r in reduce_requirements(reqs)
    ]


def _attempt_reading_ahead(attempt: Callable[[], T]) -> T:
    token = _AHEAD.set({})
    try:
        return attempt()
    finally:
        _AHEAD.reset(token)


class SetAsSortedList(Transcoding):
    """Snapshots of index aggregates hold sets (who maps a release, who holds a role)."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class AppBase(Application):
    """Shared reading and writing helpers; no commands of its own."""

    name = "rulelog"
    #: Aggregate types kept decoded between commands, always brought up to date
    #: by the read that hands them out (see ``adapters.batch_reads``).
    cached_aggregates: ClassVar[tuple[type[Aggregate], ...]] = ()
    #: Download hosts a release blob may name, per product (Balrog's DOMAIN_ALLOWLIST),
    #: set by the deployment (the admin API). None skips the check, as for the
    #: operator's imports of Balrog snapshots, whose blobs Balrog already accepted.
    domain_allowlist: DomainAllowlist | None = None

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        self.reader = BatchReader(self, self.cached_aggregates)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsSortedList())

    def now(self) -> datetime:
        """The application's clock (tests and the agent may replace it)."""
        return datetime.now(tz=UTC)

    def find(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        """The aggregate with this id, or None if it was never created.

        Inside ``unit_of_work`` an aggregate is read once and then shared, so
        several changes planned for one save (a group enactment) build on each
        other instead of each starting from the stored version. An aggregate
        read ahead for this attempt (``read_ahead``) is taken from there; any
        other is read from the store in one statement (``adapters.batch_reads``).
        """
        unit = _UNIT.get()
        if unit is not None and aggregate_id in unit:
            found: Any = unit[aggregate_id]
        else:
            ahead = _AHEAD.get()
            if ahead is not None and aggregate_id in ahead:
                found = ahead.pop(aggregate_id)  # each read ahead is handed out once
            else:
                found = self.reader.get_many([aggregate_id]).get(aggregate_id)
            if found is None:
                return None
            if unit is not None:
                unit[aggregate_id] = found
        if not isinstance(found, cls):  # pragma: no cover - ids are namespaced per kind
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not {cls.__name__}")
        return found

    def find_or_create(self, aggregate_id: UUID, cls: type[A], create: Callable[[], A]) -> A:
        """``find``, or a new aggregate (shared in the unit of work like a found one)."""
        found = self.find(aggregate_id, cls)
        if found is not None:
            return found
        made = create()
        unit = _UNIT.get()
        if unit is not None:
            unit[aggregate_id] = made
        return made

    def read_ahead(self, aggregate_ids: list[UUID]) -> None:
        """Read these aggregates now, in one statement, for this attempt's ``find``s.

        Only inside a command's attempt (``with_retries``), whose end drops what
        was not used; elsewhere it does nothing. Each aggregate read ahead is
        handed out once: a second ``find`` of it reads the store again.
        """
        ahead = _AHEAD.get()
        if ahead is None:
            return
        unit = _UNIT.get() or {}
        wanted = [i for i in dict.fromkeys(aggregate_ids) if i not in unit and i not in ahead]
        if not wanted:
            return
        found = self.reader.get_many(wanted)
        for aggregate_id in wanted:
            ahead[aggregate_id] = found.get(aggregate_id)

    def read_ahead_for_change(self, kind: str, key: str, changed_by: object) -> None:
        """What a direct change or scheduling of row ``key`` of ``kind`` reads: the
        row (rules, releases), the acting user, the signoff policies and the row's
        pending-change lock -- one read instead of one each."""
        wanted = [ids.signoff_policies_id(), ids.pending_target_id(kind, key)]
        if isinstance(changed_by, str) and changed_by:
            wanted.append(ids.user_id(changed_by))
        if kind == "rules" and id_from(key) is not None:
            wanted.append(ids.rule_id(int(key)))
        elif kind == "releases":
            wanted.append(ids.release_id(key))
        self.read_ahead(wanted)

    def share(self, aggregates: Iterable[Aggregate]) -> None:
        """Inside ``unit_of_work``: hand these (just created) aggregates to later ``find``s,
        so a change planned after another builds on it (create, then write, one save)."""
        unit = _UNIT.get()
        if unit is not None:
            for aggregate in aggregates:
                unit.setdefault(aggregate.id, aggregate)

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Share every aggregate read or created in the block (one save's worth)."""
        token = _UNIT.set({})
        try:
            yield
        finally:
            _UNIT.reset(token)

    # ------------------------------------------------------------ who may act

    def user(self, username: str) -> User | None:
        return self.find(ids.user_id(username), User)

    def held(self, username: str) -> dict[str, Any]:
        user = self.user(username)
        return user.held if user is not None else {}

    def require(
        self,
        username: str,
        change: str,
        *,
        current_product: str | None = None,
        new_product: Any = UNSET,
    ) -> None:
        """Balrog's permission checks for ``change`` by ``username``, or PermissionDenied."""
        if not isinstance(username, str) or not username:
            raise PermissionDenied("an acting user is required")
        require_change(
            self.held(username),
            change,
            username,
            current_product=current_product,
            new_product=new_product,
        )

    def require_admin(self, username: str, doing: str) -> None:
        """Only an admin for every product may do this."""
        options = self.held(username).get("admin")
        if options is None or (options or {}).get("products"):
            raise PermissionDenied(f"{username} is not allowed to {doing}: admin required")

    def policies(self) -> SignoffPolicies:
        return self.find_or_create(ids.signoff_policies_id(), SignoffPolicies, SignoffPolicies)

    @staticmethod
    def refuse_if_signoffs_needed(what: str, reqs: list[Requirement]) -> None:
        """A direct edit is allowed only where no signoff is required."""
        needed = reduce_requirements(reqs)
        if needed:
            roles = ", ".join(f"{r.signoffs_required} {r.role}" for r in needed)
            raise SignoffRequired(
                f"{what} requires signoffs ({roles}): schedule it instead",
                required=requirements_as_data(needed),
            )

    # ------------------------------------------------------------ writing

    @staticmethod
    def check_data_version(what: str, current: int, given: object) -> None:
        if not isinstance(given, int) or isinstance(given, bool):
            raise Invalid(f"data_version: must be an integer, got {given!r}", field="data_version")
        if given != current:
            raise Conflict(
                f"{what} has data_version {current}, not {given}: it was changed meanwhile",
                field="data_version",
                reason="outdated",
                current=current,
                given=given,
            )

    @staticmethod
    def with_retries(attempt: Callable[[], T]) -> T:
        """Run ``attempt``; after a lost write race, re-read and try again.

        Each attempt has its own read-ahead (``read_ahead``): a retry reads afresh.
        """
        for _ in range(WRITE_ATTEMPTS - 1):
            try:
                return _attempt_reading_ahead(attempt)
            except IntegrityError:
                continue
        try:
            return _attempt_reading_ahead(attempt)
        except IntegrityError as error:
            raise Conflict("too many concurrent writers; try again") from error

    def save_atomically(self, aggregates: list[Aggregate]) -> None:
        """Save a prepared batch as one fact, or report that the store moved."""
        try:
            self.save(*aggregates)
        except IntegrityError as error:
            raise Conflict(
                "the store changed while the change was prepared; nothing saved"
            ) from error
