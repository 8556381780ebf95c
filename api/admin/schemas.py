"""Request and response models of the admin API, for validation and the OpenAPI document.

They mirror the definitions in Balrog's ``swagger/api.yml`` (types as strict
as connexion checks them); the domain still validates every value itself.
Response models document what handlers return; handlers build the JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Strict = ConfigDict(strict=True, extra="forbid")


class ProblemDoc(BaseModel):
    """An RFC 7807 problem document, as Balrog answers every failure."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    detail: Any
    status: int
    exception: Any = None


class NewDataVersion(BaseModel):
    new_data_version: int


class RuleFields(BaseModel):
    """Every Balrog rule column, each optional (absent = unchanged on update)."""

    model_config = Strict
    alias: str | None = None
    priority: int | None = None
    mapping: str | None = None
    fallbackMapping: str | None = None
    backgroundRate: int | None = None
    update_type: str | None = None
    product: str | None = None
    version: str | None = None
    channel: str | None = None
    buildTarget: str | None = None
    buildID: str | None = None
    locale: str | None = None
    osVersion: str | None = None
    memory: str | None = None
    instructionSet: str | None = None
    jaws: bool | None = None
    mig64: bool | None = None
    distribution: str | None = None
    distVersion: str | None = None
    headerArchitecture: str | None = None
    comment: str | None = None


class RuleBody(RuleFields):
    data_version: int | None = None

    def fields(self) -> dict[str, Any]:
        """The fields the client sent (explicit nulls included), nothing else."""
        return self.model_dump(exclude_unset=True)


class RuleOut(RuleFields):
    model_config = ConfigDict(extra="allow")
    rule_id: int
    data_version: int


class RuleList(BaseModel):
    count: int
    rules: list[RuleOut] = Field(default_factory=list)
