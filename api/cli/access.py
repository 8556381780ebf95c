"""Commands for users, permissions, roles, signoff policies and uptake."""

from __future__ import annotations

from typing import Any

import click

from rulelog.api.cli import main
from rulelog.api.cli.catalog import current_catalog, print_table
from rulelog.api.cli.context import (
    actor_of,
    app_from,
    json_context,
    local_user,
    print_json,
    report,
    writing_context,
)


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@main.group()
def users() -> None:
    """Users, their permissions and roles."""


@users.command("list")
@json_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """Users who hold a permission or a role, with what they hold."""
    catalog = current_catalog(app_from(ctx))
    rows = {
        name: {"permissions": held["permissions"], "roles": held["roles"]}
        for name, held in sorted(catalog.users.items())
        if held["permissions"] or held["roles"]
    }
    if as_json:
        print_json(rows)
        return
    table = [
        {
            "username": name,
            "permissions": ", ".join(sorted(held["permissions"])),
            "roles": ", ".join(sorted(held["roles"])),
        }
        for name, held in rows.items()
    ]
    print_table(table, ("username", "permissions", "roles"))


@users.command("add")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Grant the admin permission (all products).")
@json_context
def users_add(ctx: click.Context, username: str, admin: bool, as_json: bool) -> None:
    """Bootstrap a user from the local CLI (no permission needed; records who ran it)."""
    user = app_from(ctx, create=admin).add_user(username, admin=admin, recorded_by=local_user())
    held = ", ".join(sorted(user.permissions)) or "no permissions yet"
    _user_done(user, as_json, f"{username}: {held}")


def _user_done(user: Any, as_json: bool, message: str) -> None:
    if as_json:
        print_json(
            {"username": user.username, "permissions": user.permissions, "roles": user.roles}
        )
    else:
        click.echo(message)


@users.command("grant")
@click.argument("username")
@click.argument("permission")
@click.option("--products", help="Comma-separated products the permission is limited to.")
@click.option("--actions", help="Comma-separated actions the permission is limited to.")
@writing_context
def users_grant(
    ctx: click.Context,
    username: str,
    permission: str,
    products: str | None,
    actions: str | None,
    as_json: bool,
    actor: str | None,
) -> None:
    """Grant PERMISSION to USERNAME (as Balrog's permissions, with its options)."""
    options: dict[str, Any] = {}
    if products:
        options["products"] = _csv(products)
    if actions:
        options["actions"] = _csv(actions)
    app = app_from(ctx)
    user = app.grant_permission(username, permission, options, actor_of(actor))
    row = user.permissions[permission]
    message = f"granted {permission} to {username} (data_version {row['data_version']})"
    _user_done(user, as_json, message)


@users.command("revoke")
@click.argument("username")
@click.argument("permission")
@click.option("--data-version", type=int, required=True, help="The permission's data_version.")
@writing_context
def users_revoke(
    ctx: click.Context,
    username: str,
    permission: str,
    data_version: int,
    as_json: bool,
    actor: str | None,
) -> None:
    """Revoke PERMISSION from USERNAME."""
    user = app_from(ctx).revoke_permission(username, permission, data_version, actor_of(actor))
    _user_done(user, as_json, f"revoked {permission} from {username}")


@users.command("roles")
@click.argument("username")
@click.option("--grant", "grant_role", metavar="ROLE", help="Grant this signoff role.")
@click.option("--revoke", "revoke_role", metavar="ROLE", help="Revoke this signoff role.")
@writing_context
def users_roles(
    ctx: click.Context,
    username: str,
    grant_role: str | None,
    revoke_role: str | None,
    as_json: bool,
    actor: str | None,
) -> None:
    """Show USERNAME's signoff roles, or grant / revoke one."""
    app = app_from(ctx)
    if grant_role:
        app.grant_role(username, grant_role, actor_of(actor))
    if revoke_role:
        app.revoke_role(username, revoke_role, actor_of(actor))
    user = app.get_user(username)
    if as_json:
        print_json(user.roles)
    else:
        click.echo(", ".join(sorted(user.roles)) or "(no roles)")


@main.group()
def signoffs() -> None:
    """Signoff policies."""


@signoffs.group("required")
def required() -> None:
    """Required signoffs: product (product, channel, role) and permissions (product, role)."""


POLICY_KINDS = click.Choice(["product", "permissions"])


@required.command("list")
@json_context
def required_list(ctx: click.Context, as_json: bool) -> None:
    """Every required-signoff policy."""
    catalog = current_catalog(app_from(ctx))
    rows = [
        {"kind": kind, **row}
        for kind in ("product", "permissions")
        for row in catalog.policies[kind].values()
    ]
    if as_json:
        print_json(rows)
    else:
        columns = ("kind", "product", "channel", "role", "signoffs_required", "data_version")
        print_table(rows, columns)


def _policy_row(product: str, channel: str | None, role: str, count: int | None) -> dict:
    row: dict[str, Any] = {"product": product, "role": role}
    if channel is not None:
        row["channel"] = channel
    if count is not None:
        row["signoffs_required"] = count
    return row


@required.command("add")
@click.argument("kind", type=POLICY_KINDS)
@click.option("--product", required=True, help="The product the policy covers.")
@click.option("--channel", help="Channel (product policies only; globs allowed).")
@click.option("--role", required=True, help="The role whose holders sign off.")
@click.option(
    "--count",
    "signoffs_required",
    type=click.IntRange(min=1),
    required=True,
    help="How many holders of ROLE must sign off.",
)
@writing_context
def required_add(
    ctx: click.Context,
    kind: str,
    product: str,
    channel: str | None,
    role: str,
    signoffs_required: int,
    as_json: bool,
    actor: str | None,
) -> None:
    """Add a policy directly (where the existing policies need no signoff for it)."""
    row = _policy_row(product, channel, role, signoffs_required)
    app_from(ctx).add_required_signoff(kind, row, actor_of(actor))
    report(as_json, {"kind": kind, **row}, f"added {kind} required signoff: {_policy_text(row)}")


def _policy_text(row: dict[str, Any]) -> str:
    """A policy as a person reads it: ``product=Firefox channel=release role=relman ...``."""
    return " ".join(f"{k}={v}" for k, v in row.items() if v is not None)


@required.command("remove")
@click.argument("kind", type=POLICY_KINDS)
@click.option("--product", required=True, help="The product the policy covers.")
@click.option("--channel", help="Channel (product policies only).")
@click.option("--role", required=True, help="The policy's role.")
@click.option("--data-version", type=int, required=True, help="The policy's data_version.")
@writing_context
def required_remove(
    ctx: click.Context,
    kind: str,
    product: str,
    channel: str | None,
    role: str,
    data_version: int,
    as_json: bool,
    actor: str | None,
) -> None:
    """Remove a policy directly (usually it must be scheduled: see ``sc schedule``)."""
    row = _policy_row(product, channel, role, None)
    app_from(ctx).remove_required_signoff(kind, row, data_version, actor_of(actor))
    report(
        as_json, {"kind": kind, **row}, f"removed {kind} required signoff: {_policy_text(row)}"
    )


@main.group()
def uptake() -> None:
    """Uptake reports (make uptake-gated scheduled changes due)."""


@uptake.command("report")
@click.argument("product")
@click.argument("channel")
@click.argument("percent", type=float)
@writing_context
def uptake_report(
    ctx: click.Context,
    product: str,
    channel: str,
    percent: float,
    as_json: bool,
    actor: str | None,
) -> None:
    """Report that PERCENT of PRODUCT on CHANNEL runs the latest version."""
    app_from(ctx).report_uptake(product, channel, percent, actor_of(actor))
    report(
        as_json,
        {"product": product, "channel": channel, "uptake": percent},
        f"uptake of {product} on {channel}: {percent:g}%",
    )
