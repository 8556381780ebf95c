"""Writing release blobs the way Balrog's admin API does.

Three things Balrog's release routes share live here:

* a blob (or locale data, or a list) may arrive as JSON or as JSON text;
* Balrog words blob failures as a list of errors (``"schema_version is not
  set"``), checked before anything is written;
* a write naming an older ``data_version`` is not refused outright: Balrog
  merges it three ways (the blob at that data_version, the current blob, the
  new one) and refuses only when both sides changed the same value. Parallel
  per-locale uploads (balrogscript) rely on this. ``write_blob`` does the same
  and then writes at the current data_version, so the domain's check still
  catches a writer that raced it (and the merge is tried again).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from rulelog.api.admin.problems import Problem
from rulelog.api.admin.release_blob_errors import INVALID_BLOB, blob_errors
from rulelog.domain import bounded_json, ids
from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import Conflict, NotFound, SignoffRequired
from rulelog.services.application import RulelogApp

#: What Balrog's OutdatedDataError says when a write cannot be merged.
OUTDATED = "Failed to update row, old_data_version doesn't match current data_version"
WRITE_ATTEMPTS = 3


class MergeConflict(ValueError):
    """Both sides of a three-way merge changed the same value."""


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


# --------------------------------------------------------------- merging


def merge3(ancestor: dict[str, Any], left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Merge two descendants of ``ancestor``; lists are unions, as Balrog's merge has it.

    A key takes the side that changed it; a key changed on both sides (even to
    the same value) or of different types on different sides cannot be merged.
    """
    merged: dict[str, Any] = {}
    keys = list(dict.fromkeys([*ancestor, *left, *right]))
    for key in keys:
        values = [side.get(key) for side in (ancestor, left, right)]
        types = {type(v) for v in values if v is not None}
        if len(types) > 1:
            raise MergeConflict(f"Cannot merge blobs: type mismatch for '{key}'")
        if dict in types:
            merged[key] = merge3(*[(side.get(key) or {}) for side in (ancestor, left, right)])
        elif list in types:
            merged[key] = _union(*[(side.get(key) or []) for side in (ancestor, left, right)])
        else:
            merged[key] = _merge_value(key, ancestor, left, right)
    return merged


def _union(*lists: list[Any]) -> list[Any]:
    """Items of every list once each, first occurrence first (``1`` and ``True`` apart)."""
    out: list[Any] = []
    for items in lists:
        for item in items:
            if not any(item == seen and type(item) is type(seen) for seen in out):
                out.append(item)
    return out


def _merge_value(key: str, ancestor: dict, left: dict, right: dict) -> Any:
    if key in ancestor:
        base = ancestor[key]
        left_changed = key in left and left[key] != base
        right_changed = key in right and right[key] != base
        if left_changed and right_changed:
            raise MergeConflict(f"Cannot merge blobs: left and right are both changing '{key}'")
        if left_changed:
            return left[key]
        if right_changed:
            return right[key]
        return base
    if key in left and key in right and left[key] != right[key]:
        raise MergeConflict(f"Cannot merge blobs: left and right are both changing '{key}'")
    return left[key] if key in left else right[key]


def _outdated() -> Conflict:
    return Conflict(OUTDATED, field="data_version", reason="outdated")


def _blob_at(service: RulelogApp, release: Release, data_version: int) -> dict[str, Any] | None:
    """The blob as it was at an earlier ``data_version`` of the release's current life."""
    if not isinstance(data_version, int) or not 1 <= data_version < release.data_version:
        return None
    base = release.version - release.data_version
    then = service.repository.get(ids.release_id(release.name), version=base + data_version)
    return then.blob


def write_blob(
    service: RulelogApp,
    name: str,
    data_version: int,
    blob: dict[str, Any],
    changed_by: str,
    product: str | None = None,
) -> Release:
    """Replace ``name``'s blob, merging with what changed since ``data_version``."""
    for attempt in range(WRITE_ATTEMPTS):
        release = service.get_release(name)
        current = release.data_version
        new = blob
        if data_version != current:
            ancestor = _blob_at(service, release, data_version)
            if ancestor is None:
                raise _outdated()
            try:
                new = merge3(ancestor, release.blob, blob)
            except MergeConflict:
                raise _outdated() from None
        try:
            return service.replace_release_blob(name, current, new, changed_by, product=product)
        except Conflict as error:
            if error.context.get("reason") != "outdated" or attempt == WRITE_ATTEMPTS - 1:
                raise
    raise _outdated()  # pragma: no cover - the loop returns or raises


def find_release(service: RulelogApp, name: str) -> Release | None:
    try:
        return service.get_release(name)
    except NotFound:
        return None


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
        steps = []
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
            steps.append((name, skeleton, old, blob))
        for name, skeleton, old, blob in steps:
            self._write(name, skeleton, old, blob)
        return (201 if new else 200), self.service.get_release(self.release).data_version

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

    def _write(
        self, name: str, skeleton: dict[str, Any] | None, old: int, blob: dict[str, Any]
    ) -> None:
        try:
            if skeleton is not None:
                self.service.create_release(name, self.product, skeleton, self.changed_by)
            write_blob(self.service, name, old, blob, self.changed_by, self.product_written())
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
        blob.update(self.incoming)
        return blob

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
        platforms = blob.setdefault("platforms", {})
        platform = self.platform
        entry = platforms.get(platform)
        if isinstance(entry, dict):  # an aliased platform: the data goes to its target
            platform = entry.get("alias", platform)
        target = platforms.setdefault(platform, {})
        target.setdefault("locales", {})[self.locale] = self.incoming
        for other in self.alias:
            platforms.setdefault(other, {"alias": platform})
        return blob


def _names(value: Any, field: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Problem(400, f"{field}: must be a list of names")
    return value
