"""The refusal of an identity, shared by rulelog's own tokens and OIDC tokens."""

from __future__ import annotations

__all__ = ["AuthError"]


class AuthError(Exception):
    """Why a caller could not be identified, in Balrog's shape (``code``, ``description``);
    answered 401."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.error = {"code": code, "description": description}
