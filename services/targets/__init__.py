"""What can be changed, one adapter per kind of Balrog row.

Direct edits and scheduled changes go through the same adapters, so a change
enacted by the agent is exactly the change a direct edit would have made:
same validation, same permission checks, same index upkeep. The base
(``base``) names what an adapter answers and holds the row life cycle the
kinds share; each kind's module states only what differs.

A change that restores a prior row (``rulelog restore``) goes through the
adapter's ``restoring`` variant, which validates the row as a stored row
rather than as a client's request; ``check_restores`` verifies, against the
row's history, that it is the row it claims to bring back.
"""

from __future__ import annotations

from rulelog.domain.errors import NotFound
from rulelog.services.targets.base import (
    ABSENT,
    VERBS,
    Current,
    RecreatableTarget,
    RowTarget,
    Target,
    without_version,
)
from rulelog.services.targets.permissions import Permissions
from rulelog.services.targets.pins import Pins
from rulelog.services.targets.policies import Policies
from rulelog.services.targets.release_links import require_release, rules_mapping
from rulelog.services.targets.releases import Releases
from rulelog.services.targets.rules import RESTORED_RULES, RestoredRules, Rules
from rulelog.services.targets.shutoffs import Shutoffs

__all__ = [
    "ABSENT",
    "RESTORED_RULES",
    "TARGETS",
    "VERBS",
    "Current",
    "Permissions",
    "Pins",
    "Policies",
    "RecreatableTarget",
    "Releases",
    "RestoredRules",
    "RowTarget",
    "Rules",
    "Shutoffs",
    "Target",
    "require_release",
    "rules_mapping",
    "target_for",
    "without_version",
]

TARGETS: dict[str, Target] = {
    t.kind: t
    for t in (
        Rules(),
        Releases(),
        Shutoffs(),
        Pins(),
        Policies("product"),
        Policies("permissions"),
        Permissions(),
    )
}


def target_for(kind: str) -> Target:
    if kind not in TARGETS:
        raise NotFound(f"no scheduled changes of kind {kind!r}; kinds: {', '.join(TARGETS)}")
    return TARGETS[kind]
