"""Signing off scheduled changes, and withdrawing signoffs.

A signoff records the role it is given with and, when the caller saw them,
the fingerprints of the test-channel views it was given on; the agent checks
those before it enacts (``services/agent.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from rulelog.domain.errors import NotFound
from rulelog.domain.workflow.scheduling import ScheduledChange
from rulelog.domain.workflow.signoff_rules import check_signoff, check_signoff_revoke
from rulelog.services.app_base import AppBase
from rulelog.services.workflow import pending_change, scheduled_change


class SignoffCommands(AppBase):
    """Signing off scheduled changes (a mixin on ``AppBase``)."""

    def sign_off(
        self,
        kind: str,
        sc_id: int,
        role: str,
        username: str,
        fingerprints: Mapping[str, str] | None = None,
        override: tuple[str, list[str]] | None = None,
    ) -> ScheduledChange:
        """Sign off with ``role``; ``fingerprints`` are the affected test views as seen.

        ``override`` (reason, failing expectations) is recorded in the same save
        when the signer signs off although expectations fail on the test view.

        Signing again with the same role records nothing, unless the views
        have changed since (new fingerprints): then the signoff is given again
        on what is there now.
        """

        def attempt() -> ScheduledChange:
            sc = pending_change(self, kind, sc_id)
            user = self.user(username)
            new = check_signoff(
                username, role, user.roles if user else (), sc.signoffs.get(username)
            )
            seen = dict(fingerprints or {})
            if new or (seen and sc.signoff_fingerprints.get(username) != seen) or override:
                sc.sign_off(username, role, seen)
                if override:
                    sc.override_expectations(username, override[0], override[1])
                self.save(sc)
            return sc

        return self.with_retries(attempt)

    def record_signoff_views(
        self,
        kind: str,
        sc_id: int,
        sc_data_version: int,
        views: Mapping[str, Mapping[str, str]],
    ) -> ScheduledChange:
        """Attach test-view fingerprints to signoffs already given without them.

        A scheduler's automatic signoff is given on the test views *with* the
        change in them, which exist only once it is scheduled: the caller
        computes them from the log and records them here, per username, in the
        save right after. Nothing is recorded for a signoff that was revoked or
        already carries views, nor if the change has moved on since
        (``sc_data_version``): then the signoff stays unverified.
        """

        def attempt() -> ScheduledChange:
            sc = scheduled_change(self, kind, sc_id)
            if not sc.pending or sc.data_version != sc_data_version:
                return sc
            recorded = False
            for username, seen in sorted(views.items()):
                role = sc.signoffs.get(username)
                if role is not None and seen and not sc.signoff_fingerprints.get(username):
                    sc.sign_off(username, role, dict(seen))
                    recorded = True
            if recorded:
                self.save(sc)
            return sc

        return self.with_retries(attempt)

    def revoke_signoff(
        self, kind: str, sc_id: int, changed_by: str, username: str | None = None
    ) -> ScheduledChange:
        """Withdraw a signoff (one's own by default)."""
        whose = username or changed_by

        def attempt() -> ScheduledChange:
            sc = pending_change(self, kind, sc_id)
            if whose not in sc.signoffs:
                raise NotFound(f"{whose} has not signed off scheduled change {sc_id}")
            actor = self.user(changed_by)
            check_signoff_revoke(
                changed_by,
                sc.signoffs[whose],
                actor.roles if actor else (),
                "admin" in (actor.permissions if actor else {}),
            )
            sc.revoke_signoff(whose, changed_by)
            self.save(sc)
            return sc

        return self.with_retries(attempt)
