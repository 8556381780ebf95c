"""``rulelog tokens``: issue, list and revoke API tokens for the admin HTTP API.

Run by the operator on the store itself (like ``users add``): a token only
says who a caller is, so issuing one needs no permission; the user's
permissions decide what the caller may do. The token is printed once, as
the last line, and only its SHA-256 digest is stored.
"""

from __future__ import annotations

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import print_table
from rulelog.api.cli.context import (
    actor_of,
    app_from,
    json_context,
    print_json,
    report,
    writing_context,
)
from rulelog.api.logs import get_logger
from rulelog.projections.tokens import list_tokens

log = get_logger("rulelog.cli")


@main.group()
def tokens() -> None:
    """API tokens (Authorization: Bearer TOKEN) for `rulelog serve admin`."""


@tokens.command("create")
@click.argument("username")
@click.option("--label", default="", help="What the token is for (shown by `tokens list`).")
@writing_context
def tokens_create(
    ctx: click.Context, username: str, label: str, as_json: bool, actor: str | None
) -> None:
    """Issue a token identifying USERNAME; prints it once, as the last line."""
    token_id, token = app_from(ctx).issue_token(username, actor_of(actor), label)
    log.info("token.issued", token_id=token_id, username=username, issued_by=actor_of(actor))
    report(
        as_json,
        {"token_id": token_id, "username": username, "label": label, "token": token},
        f"token {token_id} for {username} (shown once; only its hash is stored):",
        token,
    )


@tokens.command("revoke")
@click.argument("token_id")
@writing_context
def tokens_revoke(ctx: click.Context, token_id: str, as_json: bool, actor: str | None) -> None:
    """Revoke the token TOKEN_ID (its public id, as `tokens list` shows)."""
    token = app_from(ctx).revoke_token(token_id, actor_of(actor))
    report(
        as_json,
        {"token_id": token.token_id, "username": token.username, "revoked": True},
        f"revoked token {token.token_id} of {token.username}",
    )


@tokens.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
@json_context
def tokens_list(ctx: click.Context, username: str | None, as_json: bool) -> None:
    """Issued tokens (ids, owners, labels; never the secrets)."""
    rows = [t for t in list_tokens(app_from(ctx)) if username in (None, t["username"])]
    if as_json:
        print_json(rows)
        return
    print_table(rows, ("token_id", "username", "label", "issued_by", "issued_at", "revoked"))
