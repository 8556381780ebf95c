"""Writing release blobs as Balrog's admin API does: merged, retried, and atomic.

* A write naming an older ``data_version`` is not refused outright: Balrog
  merges it three ways (the blob at that data_version, the current blob, the
  new one) and refuses only when both sides changed the same value. Parallel
  per-locale uploads (balrogscript) rely on this.
* Balrog's ``changeRelease`` changes the release in the URL and every release
  named in ``copyTo`` (creating the missing ones from a skeleton blob) in one
  transaction. ``write_releases`` plans every write in one unit of work and
  saves them together: a write refused for any release stores none of them.
* A writer that raced us is met at the save (the store's optimistic check):
  the whole batch is read, merged and planned again (``AppBase.with_retries``).

The admin API (``api/admin/releases.py``) adds Balrog's order of checks and
wording; the rules are here so every interface shares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import Conflict, NotFound
from rulelog.services.catalog import CatalogCommands
from rulelog.services.targets import target_for

#: What Balrog's OutdatedDataError says when a write cannot be merged.
OUTDATED = "Failed to update row, old_data_version doesn't match current data_version"


class MergeConflict(ValueError):
    """Both sides of a three-way merge changed the same value."""


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


def outdated() -> Conflict:
    """The refusal of a write that cannot be merged with what changed since its base."""
    return Conflict(OUTDATED, field="data_version", reason="outdated")


def find_release(app: CatalogCommands, name: str) -> Release | None:
    """The live release ``name``, or None."""
    try:
        return app.get_release(name)
    except NotFound:
        return None


def _blob_at(app: CatalogCommands, release: Release, data_version: int) -> dict[str, Any] | None:
    """The blob as it was at an earlier ``data_version`` of the release's current life."""
    if not isinstance(data_version, int) or not 1 <= data_version < release.data_version:
        return None
    base = release.version - release.data_version
    then: Release = app.repository.get(ids.release_id(release.name), version=base + data_version)
    return then.blob


def rebased(
    app: CatalogCommands, release: Release, data_version: int, blob: dict[str, Any]
) -> dict[str, Any]:
    """``blob``, written against ``data_version``, as a write on the current release."""
    if data_version == release.data_version:
        return blob
    ancestor = _blob_at(app, release, data_version)
    if ancestor is None:
        raise outdated()
    try:
        return merge3(ancestor, release.blob, blob)
    except MergeConflict:
        raise outdated() from None


@dataclass(frozen=True)
class BlobWrite:
    """One release's new blob, computed from the release at ``data_version``.

    ``create`` (product, skeleton blob): the release is missing and is created
    first, as Balrog creates a ``copyTo`` release, then written (data_version 2).
    ``product``: the product the write sets (None: leave it).
    """

    name: str
    data_version: int
    blob: dict[str, Any]
    product: str | None = None
    create: tuple[str, dict[str, Any]] | None = None


def write_releases(app: CatalogCommands, writes: list[BlobWrite], changed_by: str) -> list[Release]:
    """Make every write in one atomic save: all of them are stored, or none.

    Each goes through the direct-change path (validation, permissions,
    signoffs, pending scheduled changes) as a single write would.
    """
    target = target_for("releases")

    def attempt() -> list[Release]:
        with app.unit_of_work():
            written: list[Release] = []
            touched: list[Aggregate] = []
            for write in writes:
                if write.create is not None:
                    product, skeleton = write.create
                    row = {"name": write.name, "product": product, "data": skeleton}
                    created = app.plan_change(target, "insert", row, None, changed_by)
                    app.share(created)  # the update below builds on it
                    touched += created
                release = app.get_release(write.name)
                new: dict[str, Any] = {
                    "name": write.name,
                    "data": rebased(app, release, write.data_version, write.blob),
                }
                if write.product is not None:
                    new["product"] = write.product
                planned = app.plan_change(target, "update", new, release.data_version, changed_by)
                written.append(release)
                touched += planned
            app.save(*{id(a): a for a in touched}.values())
        return written

    return app.with_retries(attempt)


# ------------------------------------------------- what a partial change does


def merge_keys(blob: dict[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /releases/{release}``: the given keys replace the blob's top-level keys."""
    blob.update(incoming)
    return blob


def put_locale(
    blob: dict[str, Any], platform: str, locale: str, build: Any, aliases: list[str]
) -> dict[str, Any]:
    """One locale's build data; ``aliases`` become platforms pointing at ``platform``."""
    platforms = blob.setdefault("platforms", {})
    entry = platforms.get(platform)
    if isinstance(entry, dict):  # an aliased platform: the data goes to its target
        platform = entry.get("alias", platform)
    target = platforms.setdefault(platform, {})
    target.setdefault("locales", {})[locale] = build
    for other in aliases:
        platforms.setdefault(other, {"alias": platform})
    return blob
