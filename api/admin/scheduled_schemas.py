"""Request and response models of the scheduled-change routes (Balrog's swagger shapes).

Bodies are as loose as Balrog's JSON schema (numbers may come as strings, as
its UI sends them) and keep unknown members, which Balrog's views ignore or
pass on; the checks Balrog's views make are in ``scheduled_bodies``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.rules_schemas import RuleIn

Loose = ConfigDict(extra="allow")


class SCBody(BaseModel):
    """What every scheduled-change body may carry."""

    model_config = Loose
    change_type: str | None = Field(None, description="insert, update or delete")
    when: int | None = Field(None, description="When to enact, in ms since the epoch")
    data_version: int | str | None = Field(None, description="The target row's data_version")
    sc_data_version: int | None = Field(
        None, description="The scheduled change's data_version (required to modify)"
    )

    def given(self) -> dict[str, Any]:
        """The members the client sent, unknown ones included."""
        return self.model_dump(exclude_unset=True)


class RuleSCBody(SCBody, RuleIn):
    """A scheduled rule change: the schedule's members and every rule column."""

    telemetry_product: str | None = None
    telemetry_channel: str | None = None
    telemetry_uptake: int | str | None = None
    rule_id: int | str | None = None


class ReleaseSCBody(SCBody):
    name: str | None = None
    product: str | None = None
    read_only: bool | None = None
    data: str | dict[str, Any] | None = Field(None, description="The blob, as JSON text")


class PermissionSCBody(SCBody):
    permission: str | None = None
    username: str | None = None
    options: str | dict[str, Any] | None = Field(None, description="Options, as JSON text")


class ProductPolicySCBody(SCBody):
    product: str | None = None
    channel: str | None = None
    role: str | None = None
    signoffs_required: int | str | None = None


class PermissionsPolicySCBody(SCBody):
    product: str | None = None
    role: str | None = None
    signoffs_required: int | str | None = None


class ShutoffSCBody(SCBody):
    product: str | None = None
    channel: str | None = None
    comment: str | None = None


class PinSCBody(SCBody):
    product: str | None = None
    channel: str | None = None
    version: str | None = None
    mapping: str | None = None


BODIES: dict[str, type[SCBody]] = {
    "rules": RuleSCBody,
    "releases": ReleaseSCBody,
    "permissions": PermissionSCBody,
    "required_signoffs/product": ProductPolicySCBody,
    "required_signoffs/permissions": PermissionsPolicySCBody,
    "emergency_shutoff": ShutoffSCBody,
    "pinnable_releases": PinSCBody,
}


class SignoffBody(BaseModel):
    model_config = Loose
    role: str | None = Field(None, description="The role to sign off with (required)")
    override_reason: str | None = Field(
        None, description="Why to sign off although expectations fail on the test view"
    )


class RevertBody(BaseModel):
    model_config = Loose
    change_id: int | None = Field(None, description="The revision to go back to (required)")


class SCCreated(BaseModel):
    sc_id: int
    signoffs: dict[str, str]


class SCModified(BaseModel):
    new_data_version: int
    signoffs: dict[str, str]


class SCColumns(BaseModel):
    """The columns of Balrog's scheduled-change tables, shown first in every answer."""

    model_config = Loose
    sc_id: int
    scheduled_by: str
    complete: bool
    change_type: str
    sc_data_version: int


class SCRow(SCColumns):
    """A scheduled change: its columns, the target's columns and conditions, signoffs."""

    data_version: int | None = None
    when: int | None = None
    signoffs: dict[str, str]
    required_signoffs: dict[str, int]


class SCList(BaseModel):
    count: int
    scheduled_changes: list[SCRow]


class SCOne(BaseModel):
    scheduled_change: SCRow


class SCRevision(SCColumns):
    """A stored state of a scheduled change (no signoffs), with its history columns."""

    change_id: int
    changed_by: str | None = None
    timestamp: int


class SCRevisions(BaseModel):
    count: int
    revisions: list[SCRevision]


class Empty(BaseModel):
    """Balrog's ``{}``; a revoke with nothing to revoke says so in ``error``."""

    model_config = Loose
    error: str | None = None
