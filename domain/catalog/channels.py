"""Which test channels derive from which live channel.

A test channel (``release-cdntest``) is the live channel's rules plus its
pending scheduled changes. Besides the suffix convention (configured where
views are built), a test channel can be mapped to its live channel
explicitly; the mapping is an event like everything else, so "which channel
was a test channel of what, when" has an answer too.

A Balrog setup often keeps rules for its test channels by hand. Such a rule
*names the test channel on its own*: its channel matches the test channel
but not the live one (``release-cdntest``, ``release-cdn*``); a glob that
matches both (``release*``) or a rule without a channel is part of the live
channel's rules, which the derived view has anyway. Where a live rule names
a test channel on its own, that channel is hand-kept (see
``projections.views``) until someone derives it on purpose.
"""

from __future__ import annotations

import re

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, Invalid, NotFound
from rulelog.domain.serving.matching import channel_matches

CHANNEL_MAX = 75


def names_on_its_own(rule_channel: str | None, test: str, live: str) -> bool:
    """Whether a rule's channel picks out ``test`` but not ``live``, as Balrog matches
    channels (a trailing-``*`` glob only, so ``*test`` is a literal name; the
    ``-cck-`` fallback included). A pattern Balrog fails on names nothing."""
    if rule_channel is None:
        return False
    try:
        return channel_matches(rule_channel, test) and not channel_matches(rule_channel, live)
    except re.error:
        return False


def check_channel(name: object, field: str) -> str:
    if not isinstance(name, str) or not name or len(name) > CHANNEL_MAX or "*" in name:
        raise Invalid(
            f"{field}: must be a channel name of 1-{CHANNEL_MAX} characters without globs",
            field=field,
        )
    return name


class ChannelMap(Aggregate):
    TOPIC = "rulelog:channel-map"

    create_id = staticmethod(ids.channel_map_id)

    @event("Created", topic="rulelog:channel-map.created")
    def __init__(self) -> None:
        #: test channel -> live channel
        self.tests: dict[str, str] = {}

    def map(self, live: str, test: str, changed_by: str) -> None:
        check_channel(live, "live")
        check_channel(test, "test")
        if live == test:
            raise Invalid("test: a channel cannot be its own test channel", field="test")
        if test in self.tests:
            raise Conflict(f"{test} is already a test channel of {self.tests[test]}")
        if test in self.tests.values() or live in self.tests:
            raise Invalid("a test channel cannot itself have test channels", field="live")
        self._mapped(live=live, test=test, changed_by=changed_by)

    @event("Mapped", topic="rulelog:channel-map.mapped")
    def _mapped(self, live: str, test: str, changed_by: str) -> None:
        self.tests[test] = live

    def unmap(self, test: str, changed_by: str) -> None:
        if test not in self.tests:
            raise NotFound(f"{test} is not mapped to a live channel")
        self._unmapped(test=test, changed_by=changed_by)

    @event("Unmapped", topic="rulelog:channel-map.unmapped")
    def _unmapped(self, test: str, changed_by: str) -> None:
        del self.tests[test]
