"""The history of one rule, release or scheduled change: every revision, who, when, why.

Reads only the streams concerned: one aggregate's events with their positions,
straight from the store's unique index on (originator_id, version), plus the
single event just before each revision. Enactment saves a change's
``ScheduledChange.Enacted`` event and the row event it makes in one
transaction, the ``Enacted`` event first, so when the event just before a
revision is an ``Enacted`` of the same kind and target, that revision *is*
the enactment, and the change's signoffs and recorded ``required`` are the
ones that applied.

Rows use Balrog's field names; every revision carries its ``position`` and
the ``time`` the timeline recorded for it (monotonic, see
``projections.timeline``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from rulelog.domain import ids
from rulelog.domain.bounds import id_from
from rulelog.domain.errors import Invalid, NotFound
from rulelog.domain.workflow.scheduling import ScheduledChange, check_kind
from rulelog.domain.workflow.signoff_rules import Requirement, is_satisfied, missing
from rulelog.projections.log import LoggedEvent, decode, read_log
from rulelog.projections.state import Catalog, blob_sha
from rulelog.projections.timeline import Timeline

#: Moves with every revision without being a change anyone made.
BOOKKEEPING = ("data_version",)
#: Past this many characters a value is abbreviated in one-line summaries.
SHORT = 40

Row = dict[str, Any]


# ------------------------------------------------------------------ reading


def _decode(app: Application, record: Any) -> LoggedEvent:
    state = record.state
    notification = Notification(
        id=record.id,
        originator_id=record.originator_id,
        originator_version=record.originator_version,
        topic=record.topic,
        state=bytes(state) if isinstance(state, memoryview) else state,
    )
    return decode(app, notification)


def _query(app: Application, where: Callable[[Any], Any]) -> list[LoggedEvent] | None:
    """Events matching ``where`` (a filter on the stored-event record), by position.

    The SQLAlchemy recorder's record class carries the notification id next
    to the aggregate's id and version, so one indexed query answers; None if
    the recorder is another kind (then callers scan the log).
    """
    recorder = app.recorder
    record = getattr(recorder, "events_record_cls", None)
    transaction = getattr(recorder, "transaction", None)
    if record is None or transaction is None:
        return None
    with transaction(commit=False) as session:
        rows = session.query(record).filter(where(record)).order_by(record.id).all()
        return [_decode(app, row) for row in rows]


def stream_of(app: Application, aggregate_id: UUID) -> list[LoggedEvent]:
    """Every event of one aggregate, oldest first, each with its position."""
    found = _query(app, lambda r: r.originator_id == aggregate_id)
    if found is None:  # pragma: no cover - only the SQLAlchemy recorder is configured
        return [e for e in read_log(app) if e.originator_id == aggregate_id]
    return found


def events_at(app: Application, positions: Iterable[int]) -> dict[int, LoggedEvent]:
    """The events at some positions (absent positions are left out)."""
    wanted = sorted({p for p in positions if p > 0})
    found: dict[int, LoggedEvent] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = _query(app, lambda r, chunk=chunk: r.id.in_(chunk))
        if rows is None:  # pragma: no cover - only the SQLAlchemy recorder is configured
            rows = [e for p in chunk for e in read_log(app, start=p, stop=p)]
        found.update((e.position, e) for e in rows)
    return found


def recorded_times(timeline: Timeline, positions: Collection[int]) -> dict[int, str | None]:
    """The recorded time (ISO 8601) of each position, in one query per 500."""
    timeline.catch_up()
    found = timeline.times_of(positions)
    return {p: found[p].isoformat() if p in found else None for p in sorted(set(positions))}


# ------------------------------------------------------------ field changes


def comparable(row: Row | None) -> Row:
    """A row as its content compares: blobs by digest, bookkeeping left out."""
    if row is None:
        return {}
    out = {k: v for k, v in row.items() if k not in BOOKKEEPING}
    if isinstance(out.get("data"), dict):
        out["blob_sha"] = blob_sha(out.pop("data"))
    return out


def release_columns(row: Row | None) -> Row | None:
    """A release row as Balrog shows it, plus ``blob_sha`` (the stream version left out)."""
    return None if row is None else {k: v for k, v in row.items() if k != "version"}


def field_changes(before: Row | None, after: Row | None) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` for every field that differs."""
    old, new = comparable(before), comparable(after)
    return {
        k: {"from": old.get(k), "to": new.get(k)}
        for k in (*old, *(k for k in new if k not in old))
        if old.get(k) != new.get(k)
    }


def short(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= SHORT else text[: SHORT - 1] + "…"


def summarize(changes: dict[str, dict[str, Any]]) -> str:
    """``field: old -> new, ...`` on one line."""
    return ", ".join(f"{k}: {short(v['from'])} -> {short(v['to'])}" for k, v in changes.items())


# ---------------------------------------------------------------- signoffs


def requirements(required: Iterable[dict[str, Any]]) -> list[Requirement]:
    return [Requirement(r["role"], int(r["signoffs_required"])) for r in required]


def signoff_status(signoffs: dict[str, str], required: list[dict[str, Any]]) -> dict[str, Any]:
    """The signoffs given against those recorded as required, and what is missing."""
    reqs = requirements(required)
    return {
        "signoffs": dict(signoffs),
        "required": list(required),
        "signed_off": is_satisfied(reqs, signoffs),
        "missing": missing(reqs, signoffs),
    }


def scheduled_change_summary(sc: ScheduledChange, position: int) -> dict[str, Any]:
    """The scheduled change a revision enacted, with the signoffs that applied."""
    return {
        "kind": sc.kind,
        "sc_id": sc.sc_id,
        "change_type": sc.change_type,
        "target": sc.target,
        "scheduled_by": sc.scheduled_by,
        "enacted_by": sc.enacted_by,
        "condition": dict(sc.condition),
        "enacted_at_position": position,
        **signoff_status(sc.signoffs, sc.required),
    }


def enactments(
    app: Application, revisions: list[LoggedEvent], kind: str, key: str
) -> dict[int, dict[str, Any]]:
    """position of a revision -> the scheduled change whose enactment it was."""
    before = events_at(app, (e.position - 1 for e in revisions))
    found: dict[int, dict[str, Any]] = {}
    for logged in revisions:
        prior = before.get(logged.position - 1)
        if prior is None or not isinstance(prior.event, ScheduledChange.Enacted):
            continue
        sc = app.repository.get(prior.originator_id)
        assert isinstance(sc, ScheduledChange)
        if sc.kind == kind and (sc.target == key or sc.change_type == "insert"):
            found[logged.position] = scheduled_change_summary(sc, prior.position)
    return found


# ---------------------------------------------------------------- revisions


def event_name(topic: str) -> str:
    """``rulelog:rule.updated`` -> ``updated``."""
    return topic.rpartition(".")[2]


def _revisions(
    app: Application,
    timeline: Timeline,
    events: list[LoggedEvent],
    row_of: Callable[[Catalog], Row | None],
    kind: str,
    key: str,
) -> list[dict[str, Any]]:
    """Fold one aggregate's events; each step's row before and after is a revision."""
    catalog = Catalog(keep_ended=True)
    times = recorded_times(timeline, [e.position for e in events])
    enacted = enactments(app, events, kind, key)
    out: list[dict[str, Any]] = []
    for logged in events:
        found = row_of(catalog)
        before = dict(found) if found is not None else None
        catalog.apply(logged)
        found = row_of(catalog)
        after = dict(found) if found is not None else None
        out.append(
            {
                "position": logged.position,
                "time": times.get(logged.position),
                "actor": logged.actor,
                "event": event_name(logged.topic),
                "changes": field_changes(before, after),
                "row": after,
                "scheduled_change": enacted.get(logged.position),
            }
        )
    return out


def resolve_rule_id(app: Application, id_or_alias: int | str) -> int:
    """A rule id from an id or an alias, the alias as last claimed (even if now freed)."""
    if isinstance(id_or_alias, int):
        return id_or_alias
    text = id_or_alias.strip()
    if text.isdigit():
        rule_id = id_from(text)
        if rule_id is None:
            raise NotFound(f"rule {text[:30]} does not exist", rule=text[:30])
        return rule_id
    claimed = [
        e.event.rule_id for e in stream_of(app, ids.alias_id(text)) if hasattr(e.event, "rule_id")
    ]
    if not claimed:
        raise NotFound(f"rule {id_or_alias} does not exist", rule=id_or_alias)
    return int(claimed[-1])


def rule_history(app: Application, timeline: Timeline, id_or_alias: int | str) -> list[Row]:
    """Every revision of a rule, deletion included; ``row`` is the rule after it."""
    rule_id = resolve_rule_id(app, id_or_alias)
    events = stream_of(app, ids.rule_id(rule_id))
    if not events:
        raise NotFound(f"rule {id_or_alias} does not exist", rule=id_or_alias)
    revisions = _revisions(
        app, timeline, events, lambda c: c.rules.get(rule_id), "rules", str(rule_id)
    )
    return [{"rule_id": rule_id, **r} for r in revisions]


def release_history(app: Application, timeline: Timeline, name: str) -> list[Row]:
    """Every revision of a release name, across deletions and re-creations."""
    events = stream_of(app, ids.release_id(name))
    if not events:
        raise NotFound(f"release {name} does not exist", release=name)
    revisions = _revisions(
        app, timeline, events, lambda c: release_columns(c.releases.get(name)), "releases", name
    )
    return [{"name": name, **r} for r in revisions]


def parse_sc_id(sc_id: int | str) -> int:
    text = str(sc_id).strip()
    found = id_from(text)
    if found is None:
        raise Invalid(f"sc_id: must be a positive integer, got {text[:30]!r}", field="sc_id")
    return found


def sc_history(app: Application, timeline: Timeline, kind: str, sc_id: int | str) -> list[Row]:
    """Every step of a scheduled change: scheduled, modified, signoffs, the end.

    ``row`` is the change after the step (its ``row`` field is what it would
    write); an ``enacted`` step names the event its enactment wrote.
    """
    check_kind(kind)
    number = parse_sc_id(sc_id)
    events = stream_of(app, ids.scheduled_change_id(kind, number))
    if not events:
        raise NotFound(f"scheduled change {kind}/{number} does not exist", sc_id=number)
    catalog = Catalog(keep_ended=True)
    times = recorded_times(timeline, [e.position for e in events])
    ends = [e for e in events if isinstance(e.event, ScheduledChange.Enacted)]
    after_end = events_at(app, (e.position + 1 for e in ends))
    out: list[Row] = []
    for logged in events:
        before = flat_sc(catalog.scheduled.get((kind, number)))
        catalog.apply(logged)
        row = dict(catalog.scheduled[(kind, number)])
        revision: Row = {
            "kind": kind,
            "sc_id": number,
            "position": logged.position,
            "time": times.get(logged.position),
            "actor": logged.actor,
            "event": event_name(logged.topic),
            "changes": field_changes(before, flat_sc(row)),
            "row": row,
            **signoff_status(row["signoffs"], row["required"]),
        }
        result = after_end.get(logged.position + 1)
        if isinstance(logged.event, ScheduledChange.Enacted) and result is not None:
            revision["enactment"] = {"position": result.position, "event": result.topic}
        out.append(revision)
    return out


def flat_sc(row: Row | None) -> Row | None:
    """A scheduled change with its row, condition and signoffs one level flatter,
    so that a modification shows field by field."""
    if row is None:
        return None
    parts = ("row", "condition", "signoffs", "position")  # position: where it was created
    flat = {k: v for k, v in row.items() if k not in parts}
    for part in ("row", "condition", "signoffs"):
        for key, value in comparable(row.get(part)).items():
            flat[f"{part}.{key}"] = value
    return flat
