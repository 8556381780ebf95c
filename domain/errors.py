"""Typed domain errors.

Every failure a command can have is one of these classes, so the edges (HTTP,
CLI) map them to a status or exit code in exactly one place each, and nothing
upstream ever has to interpret a bare exception.
"""

from __future__ import annotations

from typing import Any


class RulelogError(Exception):
    """Base of every error the domain and application raise on purpose."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class NotFound(RulelogError):
    """The rule, release, shutoff, pin or change named does not exist."""


class Conflict(RulelogError):
    """A stale data_version, a duplicate id or name, or a competing writer."""


class Invalid(RulelogError):
    """Input that Balrog would reject; ``field`` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None, **context: Any) -> None:
        super().__init__(message, field=field, **context)
        self.field = field


class PermissionDenied(RulelogError):
    """The acting user lacks the permission the command needs."""


class SignoffRequired(RulelogError):
    """The change needs signoffs: it must be scheduled, not made directly.

    Also raised when enacting a scheduled change whose required signoffs are
    not all given.
    """
