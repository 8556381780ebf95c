"""Issuing, revoking and checking API tokens.

Issuing and revoking are operator acts done with the local CLI (whoever holds
the store already holds every identity), so they need no permission; they
record who ran them. ``authenticate`` is what the admin HTTP app calls on
every request.
"""

from __future__ import annotations

from eventsourcing.utils import EnvType

from rulelog.domain import ids
from rulelog.domain.access.tokens import (
    TOKEN_ID_RE,
    ApiToken,
    check_username,
    digest,
    new_token,
    token_id_of,
)
from rulelog.domain.access.users import User
from rulelog.domain.errors import Invalid, NotFound
from rulelog.services.app_base import AppBase

LABEL_MAX = 200


class TokenCommands(AppBase):
    """API tokens (a mixin on ``AppBase``)."""

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        #: token_id -> its owner: fixed at issue, so safe to remember (revocation is not).
        self._token_owners: dict[str, str] = {}

    def issue_token(self, username: str, issued_by: str, label: str = "") -> tuple[str, str]:
        """A new token for ``username``: ``(token_id, token)``. Only the hash is stored."""
        check_username(username)
        if not isinstance(label, str) or len(label) > LABEL_MAX:
            raise Invalid(f"label: at most {LABEL_MAX} characters", field="label")
        token_id, token = new_token()
        self.save(
            ApiToken(
                token_id=token_id,
                username=username,
                sha256=digest(token),
                issued_by=issued_by,
                label=label,
            )
        )
        return token_id, token

    def get_token(self, token_id: str) -> ApiToken:
        if not isinstance(token_id, str) or not TOKEN_ID_RE.match(token_id):
            raise Invalid(f"token id: expected 16 hex digits, got {token_id!r}", field="token_id")
        token = self.find(ids.api_token_id(token_id), ApiToken)
        if token is None:
            raise NotFound(f"token {token_id} does not exist", token_id=token_id)
        return token

    def revoke_token(self, token_id: str, revoked_by: str) -> ApiToken:
        def attempt() -> ApiToken:
            token = self.get_token(token_id)
            token.revoke(revoked_by)
            self.save(token)
            return token

        return self.with_retries(attempt)

    def authenticate(self, token: str) -> str | None:
        """The user a presented bearer token identifies, or None (unknown, revoked, forged)."""
        found = self.authenticate_user(token)
        return found[0] if found is not None else None

    def authenticate_user(self, token: str) -> tuple[str, User | None] | None:
        """``(username, their User or None)`` for a valid token, else None.

        A token's owner never changes, so once a token has been seen its user is
        read in the same statement as the token (whose revocation is always read
        fresh): one query per request.
        """
        token_id = token_id_of(token)
        if token_id is None:
            return None
        stored_id = ids.api_token_id(token_id)
        owner = self._token_owners.get(token_id)
        wanted = [stored_id] if owner is None else [stored_id, ids.user_id(owner)]
        found = self.reader.get_many(wanted)
        stored = found.get(stored_id)
        if not isinstance(stored, ApiToken) or not stored.matches(token):
            return None
        self._token_owners[token_id] = stored.username
        if owner is None:
            return stored.username, self.user(stored.username)
        user = found.get(ids.user_id(owner))
        return stored.username, user if isinstance(user, User) else None
