"""The ``Release`` aggregate (a named blob) and the index of who maps to it.

Balrog lets a release be deleted and later created again under the same name,
with ``data_version`` starting again at 1. The aggregate keeps one history
per name and counts ``data_version`` from the latest (re)creation, so the
whole life of a name stays in one stream while the API sees Balrog's numbers.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.errors import Conflict, Invalid, NotFound
from domain.names import check_addressable

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


class Release(Aggregate):
    TOPIC = "rulelog:release"

    class Created(Aggregate.Created):
        TOPIC = "rulelog:release.created"
        name: str
        product: str
        blob: dict[str, Any]
        read_only: bool
        changed_by: str

    class Recreated(Aggregate.Event):
        TOPIC = "rulelog:release.recreated"
        product: str
        blob: dict[str, Any]
        read_only: bool
        changed_by: str

    class BlobReplaced(Aggregate.Event):
        TOPIC = "rulelog:release.blob-replaced"
        product: str
        blob: dict[str, Any]
        changed_by: str

    class ReadOnlyChanged(Aggregate.Event):
        TOPIC = "rulelog:release.read-only-changed"
        read_only: bool
        changed_by: str

    class Deleted(Aggregate.Event):
        TOPIC = "rulelog:release.deleted"
        changed_by: str

    @staticmethod
    def create_id(name: str, **_: Any) -> UUID:
        return ids.release_id(name)

    @event(Created)
    def __init__(
        self, name: str, product: str, blob: dict[str, Any], read_only: bool, changed_by: str
    ) -> None:
        self.name = name
        self.product = product
        self.blob = blob
        self.read_only = read_only
        self.deleted = False
        self._base_version = 0

    @property
    def data_version(self) -> int:
        return self.version - self._base_version

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"release {self.name} does not exist", release=self.name)

    def require_writable(self) -> None:
        self.require_live()
        if self.read_only:
            raise Invalid(
                f"release {self.name} is read-only; clear read_only first", field="read_only"
            )

    @event(Recreated)
    def recreate(
        self, product: str, blob: dict[str, Any], read_only: bool, changed_by: str
    ) -> None:
        self.product = product
        self.blob = blob
        self.read_only = read_only
        self.deleted = False
        # The Recreated event itself is data_version 1.
        self._base_version = self.version

    def replace_blob(self, product: str, blob: dict[str, Any], changed_by: str) -> None:
        self.require_writable()
        self._record_blob(product=product, blob=blob, changed_by=changed_by)

    @event(BlobReplaced)
    def _record_blob(self, product: str, blob: dict[str, Any], changed_by: str) -> None:
        self.product = product
        self.blob = blob

    def set_read_only(self, read_only: bool, changed_by: str) -> None:
        self.require_live()
        self._record_read_only(read_only=read_only, changed_by=changed_by)

    @event(ReadOnlyChanged)
    def _record_read_only(self, read_only: bool, changed_by: str) -> None:
        self.read_only = read_only

    def delete(self, changed_by: str) -> None:
        self.require_writable()
        self._record_delete(changed_by=changed_by)

    @event(Deleted)
    def _record_delete(self, changed_by: str) -> None:
        self.deleted = True

    def as_balrog(self) -> dict[str, Any]:
        """The release as Balrog's list shows it (without the blob)."""
        return {
            "name": self.name,
            "product": self.product,
            "read_only": self.read_only,
            "data_version": self.data_version,
        }


class ReleaseUsage(Aggregate):
    """Which rules map to a release name (as ``mapping`` or ``fallbackMapping``).

    Saving this index with every change of a mapping, and with the release's
    deletion, makes "a release that something maps to cannot be deleted" hold
    even under concurrent writers: both sides write the index, so one of them
    meets a version conflict.
    """

    TOPIC = "rulelog:release-usage"

    class Created(Aggregate.Created):
        TOPIC = "rulelog:release-usage.created"
        name: str

    class Attached(Aggregate.Event):
        TOPIC = "rulelog:release-usage.attached"
        ref: str

    class Detached(Aggregate.Event):
        TOPIC = "rulelog:release-usage.detached"
        ref: str

    class Retired(Aggregate.Event):
        TOPIC = "rulelog:release-usage.retired"

    @staticmethod
    def create_id(name: str) -> UUID:
        return ids.release_usage_id(name)

    @event(Created)
    def __init__(self, name: str) -> None:
        self.name = name
        self.refs: set[str] = set()

    @event(Attached)
    def attach(self, ref: str) -> None:
        self.refs.add(ref)

    @event(Detached)
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

    @event(Retired)
    def _record_retired(self) -> None:
        pass
