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
    title: str | None = Field(description="null where Balrog's request validator answers")
    detail: Any
    status: int
    exception: Any = None


class NewDataVersion(BaseModel):
    new_data_version: int
