"""A signoff policy needs enough role holders: the one place that checks it.

Balrog's ``RequiredSignoffsTable.validate`` refuses a policy asking more
signoffs of a role than users hold it, whether the policy is created directly,
changed, or scheduled. The direct-change path (``targets``), the admin API's
policy routes and its scheduled-change routes all call ``check_enough_holders``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rulelog.domain import ids
from rulelog.domain.access.users import RoleRoster
from rulelog.domain.workflow.policies import KEY_COLUMNS
from rulelog.domain.workflow.signoff_rules import check_policy_holders

if TYPE_CHECKING:
    from rulelog.services.app_base import AppBase


def check_enough_holders(
    app: AppBase, policy_kind: str, row: Mapping[str, Any]
) -> RoleRoster | None:
    """Raise ``Invalid`` unless ``row``'s role has as many holders as it asks signoffs.

    Returns the role's roster (None: nobody ever held it), which a change saves
    with the policy so that a concurrent revoke of the role meets it.
    """
    roster = app.find(ids.role_roster_id(row["role"]), RoleRoster)
    holders = len(roster.holders) if roster else 0
    target = ", ".join(str(row.get(c)) for c in KEY_COLUMNS[policy_kind][:-1])
    check_policy_holders(row["role"], row["signoffs_required"], holders, target=target)
    return roster
