"""Aggregate ids derived from natural keys.

The SQLAlchemy event store needs UUID aggregate ids. Deriving them with uuid5
from the natural key (rule id, alias, release name, ...) means a lookup by key
is a plain repository get, and two writers creating the same key collide on
the store's unique (id, version) constraint instead of creating duplicates.

Each aggregate's ``create_id`` is its kind's function here: eventsourcing
passes it the constructor's arguments of the same names.
"""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "urn:rulelog")


@lru_cache(maxsize=65536)  # pure, and hot in bulk work (an import derives an id per row)
def _key(kind: str, *parts: object) -> UUID:
    # "\x1f" cannot appear in any validated key, so distinct tuples never collide.
    return uuid5(NAMESPACE, "\x1f".join([kind, *(str(p) for p in parts)]))


def rule_id(rule_id: int) -> UUID:
    return _key("rule", rule_id)


def alias_id(alias: str) -> UUID:
    return _key("rule-alias", alias)


def release_id(name: str) -> UUID:
    return _key("release", name)


def release_usage_id(name: str) -> UUID:
    return _key("release-usage", name)


def shutoff_id(product: str, channel: str) -> UUID:
    return _key("emergency-shutoff", product, channel)


def pin_id(product: str, channel: str, version: str) -> UUID:
    return _key("pinnable-release", product, channel, version)


def sequence_id(name: str) -> UUID:
    return _key("sequence", name)


def user_id(username: str) -> UUID:
    return _key("user", username)


def role_roster_id(role: str) -> UUID:
    return _key("role-roster", role)


def signoff_policies_id() -> UUID:
    return _key("signoff-policies")


def uptake_id(product: str, channel: str) -> UUID:
    return _key("uptake", product, channel)


def scheduled_change_id(kind: str, sc_id: int) -> UUID:
    return _key("scheduled-change", kind, sc_id)


def pending_target_id(kind: str, target: str) -> UUID:
    return _key("pending-target", kind, target)


def channel_map_id() -> UUID:
    return _key("channel-map")


def api_token_id(token_id: str) -> UUID:
    return _key("api-token", token_id)


def expectation_id(name: str) -> UUID:
    return _key("expectation", name)


def balrog_import_id() -> UUID:
    return _key("balrog-import")
