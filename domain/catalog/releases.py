"""The ``Release`` aggregate (a named blob) and the index of who maps to it.

A release can be deleted and created again under the same name
(``domain.catalog.recreatable``).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from rulelog.domain import ids
from rulelog.domain.catalog.names import check_addressable
from rulelog.domain.catalog.recreatable import Deletion, Recreatable, Recreation
from rulelog.domain.catalog.release_parts import BASE, apply_parts, base_of, dotted, parts_of
from rulelog.domain.errors import Conflict, Invalid, NotFound

NAME_MAX = 100
PRODUCT_MAX = 15


def check_release_identity(name: object, product: object) -> None:
    """Balrog's column limits for a release's name and product."""
    if not isinstance(name, str) or not name or len(name) > NAME_MAX:
        raise Invalid(f"name: must be a string of 1-{NAME_MAX} characters", field="name")
    if not isinstance(product, str) or not product or len(product) > PRODUCT_MAX:
        raise Invalid(f"product: must be a string of 1-{PRODUCT_MAX} characters", field="product")
    check_addressable("name", name)
    check_addressable("product", product)


def initial_part_versions(blob: dict[str, Any]) -> dict[str, int]:
    """A new blob: its base and every locale part at data_version 1."""
    return {BASE: 1, **{dotted(path): 1 for path in parts_of(blob)}}


def next_part_versions(
    versions: dict[str, int], old: dict[str, Any], new: dict[str, Any]
) -> dict[str, int]:
    """The v2 data_versions after the whole blob went from ``old`` to ``new``.

    A v1 write replaces the blob at once; each part it changed moves on by one
    (a new part starts at 1, a removed one is gone), as the parts of a v2
    write do, so v2 readers see every change whoever made it.
    """
    out = {BASE: versions.get(BASE, 1) + (base_of(old) != base_of(new))}
    old_parts, new_parts = parts_of(old), parts_of(new)
    for path, data in new_parts.items():
        key = dotted(path)
        if path not in old_parts:
            out[key] = 1
        else:
            out[key] = versions.get(key, 1) + (old_parts[path] != data)
    return out


class Release(Recreatable):
    """A named blob; also Balrog v2's per-part data_versions (``part_versions``).

    The stream holds the whole blob, so every reader (v1, serving, history,
    time travel) reads one thing. A v2 write is one ``PartsChanged`` event
    naming only the parts it changed; two v2 writers of different parts race
    only on appending to this stream, which the service re-runs against the
    fresh aggregate (their per-part checks still pass), so only writers of the
    same part ever see a conflict.
    """

    TOPIC = "rulelog:release"
    #: As Balrog's release list shows it (without the blob).
    BALROG_COLUMNS = ("name", "product", "read_only")
    #: 2: ``part_versions`` (snapshots of version 1 get them from the blob).
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["part_versions"] = initial_part_versions(state.get("blob") or {})

    class Recreated(Recreation, Aggregate.Event):
        TOPIC = "rulelog:release.recreated"
        product: str
        blob: dict[str, Any]
        read_only: bool
        changed_by: str

    class Deleted(Deletion):
        TOPIC = "rulelog:release.deleted"

    class PartsChanged(Aggregate.Event):
        """A v2 write: the new base (None: unchanged) and the parts it set or
        removed (``{".platforms.p.locales.l": data or None}``)."""

        TOPIC = "rulelog:release.parts-changed"
        product: str
        base: dict[str, Any] | None
        parts: dict[str, Any]
        changed_by: str

    create_id = staticmethod(ids.release_id)

    @event("Created", topic="rulelog:release.created")
    def __init__(
        self, name: str, product: str, blob: dict[str, Any], read_only: bool, changed_by: str
    ) -> None:
        self.name = name
        self.product = product
        self.blob = blob
        self.read_only = read_only
        self.part_versions = initial_part_versions(blob)

    def not_found(self) -> NotFound:
        return NotFound(f"release {self.name} does not exist", release=self.name)

    def require_writable(self) -> None:
        self.require_live()
        if self.read_only:
            raise Invalid(
                f"release {self.name} is read-only; clear read_only first", field="read_only"
            )

    def after_recreation(self) -> None:
        """A recreated release's parts start at data_version 1, as a new one's do."""
        self.part_versions = initial_part_versions(self.blob)

    def replace_blob(self, product: str, blob: dict[str, Any], changed_by: str) -> None:
        self.require_writable()
        self._record_blob(product=product, blob=blob, changed_by=changed_by)

    @event("BlobReplaced", topic="rulelog:release.blob-replaced")
    def _record_blob(self, product: str, blob: dict[str, Any], changed_by: str) -> None:
        self.part_versions = next_part_versions(self.part_versions, self.blob, blob)
        self.product = product
        self.blob = blob

    def change_parts(
        self, product: str, base: dict[str, Any] | None, parts: dict[str, Any], changed_by: str
    ) -> None:
        """Record a v2 write (the caller has checked each part's data_version)."""
        self.require_writable()
        self._record_parts(product=product, base=base, parts=parts, changed_by=changed_by)

    @event(PartsChanged)
    def _record_parts(
        self, product: str, base: dict[str, Any] | None, parts: dict[str, Any], changed_by: str
    ) -> None:
        self.product = product
        self.blob = apply_parts(self.blob, base, parts)
        versions = dict(self.part_versions)
        if base is not None:
            versions[BASE] = versions.get(BASE, 1) + 1
        for key, data in parts.items():
            if data is None:
                versions.pop(key, None)
            else:
                versions[key] = versions.get(key, 0) + 1
        self.part_versions = versions

    def set_read_only(self, read_only: bool, changed_by: str) -> None:
        self.require_live()
        self._record_read_only(read_only=read_only, changed_by=changed_by)

    @event("ReadOnlyChanged", topic="rulelog:release.read-only-changed")
    def _record_read_only(self, read_only: bool, changed_by: str) -> None:
        self.read_only = read_only
        self.part_versions = {**self.part_versions, BASE: self.part_versions.get(BASE, 1) + 1}

    def check_deletable(self) -> None:
        self.require_writable()


class ReleaseUsage(Aggregate):
    """Which rules map to a release name (as ``mapping`` or ``fallbackMapping``).

    Saving this index with every change of a mapping, and with the release's
    deletion, makes "a release that something maps to cannot be deleted" hold
    even under concurrent writers: both sides write the index, so one of them
    meets a version conflict.
    """

    TOPIC = "rulelog:release-usage"

    create_id = staticmethod(ids.release_usage_id)

    @event("Created", topic="rulelog:release-usage.created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.refs: set[str] = set()

    @event("Attached", topic="rulelog:release-usage.attached")
    def attach(self, ref: str) -> None:
        self.refs.add(ref)

    @event("Detached", topic="rulelog:release-usage.detached")
    def detach(self, ref: str) -> None:
        self.refs.discard(ref)

    def retire(self) -> None:
        """Claim the index for a deletion; refused while anything maps here."""
        if self.refs:
            users = ", ".join(sorted(self.refs))
            raise Conflict(
                f"release {self.name} cannot be deleted: mapped to by {users}",
                release=self.name,
            )
        self._record_retired()

    @event("Retired", topic="rulelog:release-usage.retired")
    def _record_retired(self) -> None:
        pass
