"""Release writes as Balrog's admin API words and orders them.

The rules (three-way merge of a stale write, retries, ``copyTo`` as one
atomic save) are the service's (``services/release_writes.py``); this module
keeps what Balrog's HTTP layer adds:

* a blob (or locale data, or a list) may arrive as JSON or as JSON text;
* Balrog words blob failures as a list of errors (``"schema_version is not
  set"``), checked for every release before anything is written;
* its order of checks, and its status codes and wording for each refusal.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from rulelog.api.admin.problems import Problem
from rulelog.api.admin.release_blob_errors import INVALID_BLOB, blob_errors
from rulelog.domain import bounded_json
from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import Conflict, SignoffRequired
from rulelog.services.application import RulelogApp
from rulelog.services.release_writes import (
    OUTDATED,
    BlobWrite,
    find_release,
    merge_keys,
    put_locale,
    write_releases,
)

__all__ = [
    "OUTDATED",
    "MergeKeys",
    "PartialChange",
    "PutLocale",
    "find_release",
    "name_mismatch",
    "no_signoffs",
    "parse_json_field",
    "read_only_message",
]


def parse_json_field(value: Any, field: str) -> Any:
    """A field Balrog's schema takes as JSON text only (``JSONStringField``), parsed.

    An object or list in its place is refused as Balrog's validator refuses it.
    """
    if value is None:
        return value
    if not isinstance(value, str):
        raise Problem(400, f"{field}: {value!r} is not of type 'string'")
    try:
        return bounded_json.loads(value)
    except ValueError as error:
        raise Problem(
            400,
            f"Not a valid json. Error: {error}. {field}: {value!r} is not a 'JSONStringField'",
        ) from None


def name_mismatch(name: str, blob: dict[str, Any]) -> str | None:
    """Balrog's refusal of a blob stored under a name it does not carry."""
    if blob.get("name") == name:
        return None
    return f"name in database ({name}) does not match name in blob ({blob.get('name')})"


def read_only_message(name: str) -> str:
    return f"Release '{name}' is read only"


def no_signoffs(error: SignoffRequired) -> Problem:
    """A direct edit never carries signoffs: Balrog's ``verify_signoffs`` says so."""
    return Problem(400, "Signoff Required", exception="No Signoffs given")


# ------------------------------------------- partial updates and locale uploads


class PartialChange(ABC):
    """Balrog's ``changeRelease``: a change to the release in the URL and to each
    release named in ``copyTo``, each created first (from a skeleton blob) if
    missing. ``plan`` computes a release's new blob from its current one.

    Every check runs for every release before anything is written (Balrog
    rolls its transaction back instead), so a refusal stores nothing.
    """

    def __init__(self, service: RulelogApp, release: str, body: Any, changed_by: str) -> None:
        self.service = service
        self.release = release
        self.body = body
        self.changed_by = changed_by
        self.product: str = body.product
        self.incoming = parse_json_field(body.data, "data")
        self.copy_to = _names(parse_json_field(body.copyTo, "copyTo"), "copyTo")
        self.alias = _names(parse_json_field(body.alias, "alias"), "alias")
        incoming = self.incoming if isinstance(self.incoming, dict) else {}
        self.schema_version = body.schema_version or incoming.get("schema_version")
        if not self.schema_version:
            raise Problem(400, "schema_version is required")
        self.hash_function = body.hashFunction or incoming.get("hashFunction")

    #: Balrog checks a locale upload's permissions before the blob, a key merge's after.
    AUTHORIZE_FIRST = False

    @abstractmethod
    def exists(self, name: str, release: Release) -> bool:
        """Whether the change to an existing release counts as an update (200, not 201)."""

    @abstractmethod
    def plan(self, blob: dict[str, Any]) -> dict[str, Any]:
        """The new blob, made from (a copy of) the current one."""

    @abstractmethod
    def authorize(self, product: str) -> None:
        """The permission checks for changing a release of ``product``."""

    def product_written(self) -> str | None:
        """The product the write sets (None: leave it)."""
        return None

    def run(self) -> tuple[int, int]:
        """Make the change; returns (status, the URL release's new data_version)."""
        new = True
        writes: list[BlobWrite] = []
        for name in [self.release, *self.copy_to]:
            release = find_release(self.service, name)
            skeleton = None
            if release is not None:
                if self.exists(name, release):
                    new = False
                old = self._check_existing(name, release)
                product, base = release.product, release.blob
                if release.read_only:
                    msg = read_only_message(name)
                    raise Problem(403, f"Couldn't update release: {msg}", exception=[msg])
            else:
                skeleton = self._skeleton(name)
                product, base, old = self.product, skeleton, 1
            if self.AUTHORIZE_FIRST:
                self.authorize(product)
            blob = self.plan(json.loads(json.dumps(base)))
            errors = blob_errors(blob)
            if errors:
                raise Problem(400, f"Couldn't update release: {INVALID_BLOB}", exception=errors)
            mismatch = name_mismatch(name, blob)
            if mismatch:
                raise Problem(400, f"Couldn't update release: {mismatch}", exception=[mismatch])
            if not self.AUTHORIZE_FIRST:
                self.authorize(product)
            create = (self.product, skeleton) if skeleton is not None else None
            writes.append(BlobWrite(name, old, blob, self.product_written(), create))
        written = self._write(writes)
        return (201 if new else 200), written[0].data_version

    def _check_existing(self, name: str, release: Release) -> int:
        if name != self.release:
            return release.data_version
        if not self.body.data_version:
            raise Problem(400, "Release exists, data_version must be provided")
        if self.product != release.product:
            raise Problem(
                400,
                f"Product name '{self.product}' doesn't match the one on the release object "
                f"('{release.product}') for release '{name}'",
            )
        stored_hash = release.blob.get("hashFunction")
        if (
            "hashFunction" in release.blob
            and self.hash_function
            and (self.hash_function != stored_hash)
        ):
            raise Problem(
                400,
                f"hashFunction '{self.hash_function}' doesn't match the one on the release "
                f"object ('{stored_hash}') for release '{name}'",
            )
        return self.body.data_version

    def _skeleton(self, name: str) -> dict[str, Any]:
        """The blob Balrog creates a missing release with; checked before anything is saved."""
        skeleton: dict[str, Any] = {"name": name, "schema_version": self.schema_version}
        if self.hash_function:
            skeleton["hashFunction"] = self.hash_function
        errors = blob_errors(skeleton)
        if errors:
            raise Problem(400, f"Couldn't create release: {INVALID_BLOB}", exception=errors)
        self.service.require(self.changed_by, "release.create", new_product=self.product)
        return skeleton

    def _write(self, writes: list[BlobWrite]) -> list[Release]:
        """Every release in one atomic save, as Balrog's one transaction."""
        try:
            return write_releases(self.service, writes, self.changed_by)
        except SignoffRequired as error:
            raise no_signoffs(error) from None
        except Conflict as error:
            if error.context.get("reason") != "outdated":
                raise
            raise Problem(
                400, f"Couldn't update release: {OUTDATED}", exception=[OUTDATED]
            ) from None


class MergeKeys(PartialChange):
    """``POST /releases/{release}``: the given keys replace the blob's top-level keys."""

    def exists(self, name: str, release: Release) -> bool:
        return name == self.release

    def plan(self, blob: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(self.incoming, dict):
            raise Problem(400, "Couldn't update release: data must be a JSON object")
        return merge_keys(blob, self.incoming)

    def authorize(self, product: str) -> None:
        self.service.require(
            self.changed_by, "release.modify", current_product=product, new_product=self.product
        )

    def product_written(self) -> str | None:
        return self.product


class PutLocale(PartialChange):
    """``PUT /releases/{release}/builds/{platform}/{locale}``: one locale's build data."""

    def __init__(
        self, service: RulelogApp, release: str, platform: str, locale: str, body: Any, by: str
    ) -> None:
        super().__init__(service, release, body, by)
        self.platform = platform
        self.locale = locale

    def exists(self, name: str, release: Release) -> bool:
        if name != self.release:
            return False
        entry = (release.blob.get("platforms") or {}).get(self.platform)
        return isinstance(entry, dict) and self.locale in (entry.get("locales") or {})

    AUTHORIZE_FIRST = True

    def authorize(self, product: str) -> None:
        self.service.require(self.changed_by, "release_locale.modify", current_product=product)

    def plan(self, blob: dict[str, Any]) -> dict[str, Any]:
        return put_locale(blob, self.platform, self.locale, self.incoming, self.alias)


def _names(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Problem(400, f"{field}: must be a list of names")
    return value
