"""Rolling a channel back: schedule the rule changes that restore an earlier state.

The plan (``projections.diff.plan_restore``) is read-only; scheduling it is a use case,
so it lives here with the other commands: every step is validated before the first is
scheduled, and what was scheduled is taken back if the store moves meanwhile.
"""

from __future__ import annotations

from datetime import timedelta

from rulelog.domain.errors import Invalid, RulelogError
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.projections.diff import Row, check_restorable, plan_restore, stamp
from rulelog.projections.history import signoff_status
from rulelog.projections.timeline import Timeline
from rulelog.projections.views import derived_from
from rulelog.services.application import RulelogApp
from rulelog.services.targets import target_for


def restore_channel(
    app: RulelogApp,
    timeline: Timeline,
    channel: str,
    to: str,
    changed_by: str,
    *,
    delay_minutes: int = 5,
    dry_run: bool = False,
) -> Row:
    """Schedule (never apply) the changes that make ``channel``'s live rules equal to
    their state at ``to``, all validated before the first is scheduled, so the
    normal signoff workflow governs the rollback."""
    if delay_minutes < 1:
        raise Invalid("delay: must be at least 1 minute", field="delay")
    timeline.catch_up()
    then_position = timeline.resolve(to)
    now = timeline.current()
    if derived_from(now, channel) is not None:
        raise Invalid(f"channel: {channel} is a test channel; restore its live channel")
    steps = plan_restore(now, timeline.state_at(then_position), channel)
    check_restorable(now, channel, steps)
    target = target_for("rules")
    for step in steps:  # validates fields, data_version and permissions, saves nothing
        adapter = target.restoring() if step.restores else target
        app.prepare_change(adapter, step.change_type, step.row, step.data_version, changed_by)
    when = (app.now() + timedelta(minutes=delay_minutes)).isoformat()
    scheduled: list[ScheduledChange] = []
    if not dry_run:
        try:
            for step in steps:
                sc = app.schedule_change(
                    "rules",
                    step.change_type,
                    step.row,
                    {"when": when},
                    changed_by,
                    data_version=step.data_version,
                    restores=step.restores,
                )
                scheduled.append(sc)
        except RulelogError:
            for sc in scheduled:  # the store moved meanwhile: take back what was scheduled
                app.cancel_scheduled_change("rules", sc.sc_id, sc.data_version, changed_by)
            raise
    rows: list[Row] = []
    for number, step in enumerate(steps):
        row: Row = {"sc_id": None, "change_type": step.change_type, "rule_id": step.rule_id}
        row.update(data_version=step.data_version, changes=step.changes)
        if scheduled:
            sc = scheduled[number]
            row.update(sc_id=sc.sc_id, **signoff_status(sc.signoffs, sc.required))
        rows.append(row)
    return {
        "channel": channel,
        "to": stamp(timeline, then_position),
        "when": when,
        "dry_run": dry_run,
        "changes": rows,
    }
