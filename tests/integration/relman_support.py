"""The starting point most workflow tests share: the fixture data behind a relman policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rulelog.services.application import RulelogApp

RELEASE_POLICY = {
    "product": "Firefox",
    "channel": "release",
    "role": "relman",
    "signoffs_required": 1,
}


def relman_guarded(
    app: RulelogApp, snapshot: dict[str, Any], now: datetime | None = None
) -> RulelogApp:
    """The fixture data; rm may change Firefox rules and holds relman, one signoff of which
    Firefox release needs; robot may enact. ``now`` fixes the application's clock."""
    if now is not None:
        app.now = lambda: now  # type: ignore[method-assign]
    app.import_snapshot(snapshot, changed_by="importer")
    app.grant_permission("rm", "rule", {"products": ["Firefox"]}, changed_by="alice")
    app.grant_role("rm", "relman", changed_by="alice")
    app.grant_permission("robot", "scheduled_change", {"actions": ["enact"]}, "alice")
    app.add_required_signoff("product", RELEASE_POLICY, changed_by="alice")
    return app
