"""Issued API tokens, folded from their events (never the secrets: only ids and owners)."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import Application

from rulelog.domain.access.tokens import ApiToken
from rulelog.projections.log import read_log

TOPICS = (ApiToken.Created.TOPIC, ApiToken.Revoked.TOPIC)


def list_tokens(app: Application) -> list[dict[str, Any]]:
    """Every token ever issued, oldest first, with who issued it and whether it is revoked."""
    tokens: dict[Any, dict[str, Any]] = {}
    for logged in read_log(app, topics=TOPICS):
        event = logged.event
        if isinstance(event, ApiToken.Created):
            tokens[logged.originator_id] = {
                "token_id": event.token_id,
                "username": event.username,
                "label": event.label,
                "issued_by": event.issued_by,
                "issued_at": event.timestamp.isoformat(),
                "revoked": False,
            }
        elif isinstance(event, ApiToken.Revoked) and logged.originator_id in tokens:
            tokens[logged.originator_id]["revoked"] = True
    return list(tokens.values())
