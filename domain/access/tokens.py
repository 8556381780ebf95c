"""API tokens: a bearer secret that identifies one user, stored only as a hash.

A token says *who* is calling, never *what* they may do: permissions come
from the user's own rows, so a token may be issued for a name that holds no
permission yet (as with an external identity provider). The token string is
``rlt_<token_id>_<secret>``; the public ``token_id`` names the aggregate, so
checking a presented token is one read and one constant-time comparison of
SHA-256 digests. The plaintext is shown once, at issue, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, Invalid

PREFIX = "rlt"
TOKEN_RE = re.compile(r"^rlt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
TOKEN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
USERNAME_MAX = 100


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(token_id, token)``; the id is public, the token is the secret."""
    token_id = secrets.token_hex(8)
    return token_id, f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"


def token_id_of(token: str) -> str | None:
    """The public id inside a well-formed token, or None."""
    match = TOKEN_RE.match(token)
    return match.group(1) if match else None


def check_username(username: object) -> str:
    if not isinstance(username, str) or not username.strip() or len(username) > USERNAME_MAX:
        raise Invalid(
            f"username: must be a string of 1-{USERNAME_MAX} characters", field="username"
        )
    return username


class ApiToken(Aggregate):
    TOPIC = "rulelog:api-token"

    create_id = staticmethod(ids.api_token_id)

    @event("Created", topic="rulelog:api-token.issued")
    def __init__(self, token_id: str, username: str, sha256: str, issued_by: str, label: str):
        self.token_id = token_id
        self.username = username
        self.sha256 = sha256
        self.issued_by = issued_by
        self.label = label
        self.revoked = False

    def matches(self, token: str) -> bool:
        """Whether ``token`` is this (unrevoked) token's secret."""
        return not self.revoked and hmac.compare_digest(self.sha256, digest(token))

    def revoke(self, revoked_by: str) -> None:
        if self.revoked:
            raise Conflict(f"token {self.token_id} is already revoked", token_id=self.token_id)
        self._revoked(revoked_by=revoked_by)

    @event("Revoked", topic="rulelog:api-token.revoked")
    def _revoked(self, revoked_by: str) -> None:
        self.revoked = True
