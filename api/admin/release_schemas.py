"""Request and response models of the ``/api/releases`` routes (Balrog's swagger ``api.yml``).

Request models are deliberately lax about presence: Balrog's connexion layer
words a missing field as ``'blob' is a required property``, and clients read
that text, so handlers check presence themselves (``require_fields``) and the
models only say, for the OpenAPI document, which fields are required. Types
are strict, as connexion's JSON-schema checks are. A blob (``blob``, ``data``)
may arrive as a JSON object or as a JSON-encoded string, as older clients
(balrogclient, balrogscript) send it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rulelog.api.admin.problems import Problem


def _required(*names: str) -> ConfigDict:
    """Strict types, unknown members tolerated (Balrog's UI sends whole rows), and
    ``names`` listed as required in the OpenAPI document."""
    return ConfigDict(strict=True, extra="allow", json_schema_extra={"required": list(names)})


def require_fields(body: BaseModel, *names: str) -> None:
    """Refuse a body lacking one of ``names`` in connexion's words (the first missing)."""
    sent = body.model_fields_set | set(body.model_extra or {})
    for name in names:
        if name not in sent:
            raise Problem(400, f"'{name}' is a required property")


BlobText = dict[str, Any] | str


class ReleaseBody(BaseModel):
    """``ReleaseData``: a whole release (``POST /releases``, ``PUT /releases/{release}``)."""

    model_config = _required("name", "product", "blob")
    name: str | None = Field(None, min_length=1, max_length=100)
    product: str | None = Field(None, min_length=1, max_length=15)
    blob: BlobText | None = Field(None, description="The blob as JSON text (as in Balrog).")
    data_version: int | None = Field(None, ge=1, description="Required to replace a release.")


class PartialReleaseBody(BaseModel):
    """``PartialRelease``: keys to merge into a blob, or one locale's build data."""

    model_config = _required("product", "data")
    product: str | None = Field(None, min_length=1, max_length=15)
    data: BlobText | None = Field(None, description="Its JSON text (as in Balrog).")
    data_version: int | None = Field(None, ge=1)
    name: str | None = None
    hashFunction: str | None = None
    schema_version: int | None = Field(None, ge=1)
    copyTo: list[str] | str | None = Field(
        None, description="Other releases to change the same way (a JSON list, as text)."
    )
    alias: list[str] | str | None = Field(
        None, description="Platforms to alias to this one (a JSON list, as text)."
    )


class ReleaseReadOnlyBody(BaseModel):
    """Set or clear ``read_only``; Balrog's UI sends ``""`` for false, and the whole row."""

    model_config = _required("data_version", "read_only")
    data_version: int | None = Field(None, ge=1)
    read_only: bool | str | None = None


class ReleaseRevertBody(BaseModel):
    """Revert a release to the revision recorded at ``change_id``."""

    model_config = ConfigDict(extra="allow")
    change_id: Any = None


class ReleaseRow(BaseModel):
    """A release as ``GET /releases`` lists it (never with its blob)."""

    name: str
    product: str
    data_version: int
    read_only: bool
    rule_ids: list[int]
    rule_info: dict[str, dict[str, str | None]]
    required_signoffs: dict[str, int]


class ReleaseList(BaseModel):
    """``releases`` normally; ``names`` only with ``?names_only``."""

    releases: list[ReleaseRow] | None = None
    names: list[str] | None = None


class ReadOnlyOut(BaseModel):
    read_only: bool


class RequiredSignoffsOut(BaseModel):
    required_signoffs: dict[str, int]


class ReleaseColumnValues(BaseModel):
    """``{"count": n, "<column>": [distinct values]}``."""

    model_config = ConfigDict(extra="allow")
    count: int


class ReleaseRevision(BaseModel):
    """One stored state of a release, as Balrog's ``releases_history`` lists it."""

    change_id: int
    changed_by: str | None
    timestamp: int
    name: str
    product: str
    read_only: str = Field(description='"True" or "False", as Balrog shows it.')
    data_version: int
    different: list[str] = Field(alias="_different")
    time_ago: str = Field(alias="_time_ago")


class ReleaseRevisions(BaseModel):
    count: int
    revisions: list[ReleaseRevision]
