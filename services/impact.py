"""Traffic impact: which sampled requests a change would move, before it is made.

Every interface (``rulelog impact``, the admin API's impact routes, the console)
calls these functions, so a proposed change is validated exactly as a real one
would be (fields, keys, the download-domain allowlist), without the permission
check: asking "what would this do?" changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rulelog.adapters.request_sample import RequestSample
from rulelog.domain.errors import Invalid, NotFound
from rulelog.projections.impact import impact_of
from rulelog.projections.read_only import ensure_tables
from rulelog.projections.state import Catalog
from rulelog.services import changes
from rulelog.services.application import RulelogApp
from rulelog.services.targets import target_for

#: Kinds whose changes can change an update answer.
ANSWERING_KINDS = ("rules", "releases", "emergency_shutoff", "pinnable_releases")


def sample_of(app: RulelogApp) -> RequestSample:
    """The request sample kept in ``app``'s own database (empty where the table is
    missing and the database refuses to create it)."""
    engine = app.recorder.datastore.engine  # type: ignore[attr-defined]
    return RequestSample(engine, lambda e, tables: ensure_tables(e, tables, "request_sample"))


def record_sample(app: RulelogApp, targets: Sequence[str], keep: int) -> None:
    """Add served request targets to the sample, keeping the newest ``keep``."""
    sample_of(app).append(targets, keep)


def scheduled_impact(app: RulelogApp, state: Catalog, kind: str, sc_id: int) -> dict[str, Any]:
    """The impact of pending scheduled change ``kind``/``sc_id`` on the sample."""
    if kind not in ANSWERING_KINDS:
        raise Invalid(f"kind: {kind} changes no update answer", field="kind")
    sc = state.scheduled.get((kind, sc_id))
    if sc is None:
        raise NotFound(f"no scheduled change {kind}/{sc_id}")
    if sc["status"] != "pending":
        raise Invalid(f"scheduled change {kind}/{sc_id} is {sc['status']}, not pending")
    found = impact_of(app, state, [sc], sample_of(app).targets())
    return {"scheduled_change": {"kind": kind, "sc_id": sc_id}, **found}


def proposed_impact(
    app: RulelogApp, state: Catalog, kind: str, change_type: str, row: Mapping[str, Any]
) -> dict[str, Any]:
    """The impact of a change that is not scheduled: validated as a real one would be."""
    if kind not in ANSWERING_KINDS:
        raise Invalid(f"kind: {kind} changes no update answer", field="kind")
    target = target_for(kind)
    if not isinstance(row, Mapping):
        raise Invalid("row: must be an object", field="row")
    key, _, new = changes.prepare_change(
        app, target, change_type, row, None, "impact", check_version=False, check_permission=False
    )
    change = {"kind": kind, "change_type": change_type, "target": key, "row": new, "sc_id": 0}
    found = impact_of(app, state, [change], sample_of(app).targets())
    return {"proposed": {"kind": kind, "change_type": change_type, "target": key}, **found}
