"""Direct edits: create, change and delete rows, where no signoff is required.

Every direct edit is one generic path (``services.changes``) over the adapters
in ``services.targets``: find the row, check data_version, validate, check the
acting user's permissions, refuse if signoffs would be needed, plan, merge
into a pending scheduled change of the same row, save atomically. The
per-kind methods below only translate arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rulelog.domain import ids
from rulelog.domain.bounds import id_from
from rulelog.domain.catalog.pins import PinnableRelease
from rulelog.domain.catalog.releases import Release
from rulelog.domain.catalog.rules import AliasClaim, Rule
from rulelog.domain.catalog.shutoffs import EmergencyShutoff
from rulelog.domain.catalog.snapshot import ImportSummary, source_of
from rulelog.domain.errors import Invalid, NotFound
from rulelog.domain.workflow.signoff_rules import required_for_release_read_write
from rulelog.services import changes
from rulelog.services.app_base import AppBase
from rulelog.services.changes import changed_as
from rulelog.services.snapshot_import import Progress, import_streamed
from rulelog.services.targets import rules_mapping


class CatalogCommands(AppBase):
    """Rules, releases, shutoffs, pins and imports (a mixin on ``AppBase``)."""

    # ---------------------------------------------------------------- reads

    def get_rule(self, id_or_alias: int | str) -> Rule:
        """A live rule by integer id (or digit string) or by alias."""
        rule_id = self._resolve_rule_id(id_or_alias)
        rule = self.find(ids.rule_id(rule_id), Rule) if rule_id is not None else None
        if rule is None or rule.deleted:
            raise NotFound(f"rule {id_or_alias} does not exist", rule=id_or_alias)
        return rule

    def _rule_id_of(self, id_or_alias: int | str) -> int:
        """The rule id an id or alias names (no read for an id: ``change`` reads the rule)."""
        rule_id = self._resolve_rule_id(id_or_alias)
        if rule_id is None:
            raise NotFound(f"rule {id_or_alias} does not exist", rule=id_or_alias)
        return rule_id

    def _resolve_rule_id(self, id_or_alias: int | str) -> int | None:
        if isinstance(id_or_alias, int):
            return id_or_alias
        if id_or_alias.isdigit():
            return id_from(id_or_alias)
        claim = self.find(ids.alias_id(id_or_alias), AliasClaim)
        return claim.rule_id if claim is not None else None

    def get_release(self, name: str) -> Release:
        release = self.find(ids.release_id(name), Release)
        if release is None or release.deleted:
            raise NotFound(f"release {name} does not exist", release=name)
        return release

    def get_shutoff(self, product: str, channel: str) -> EmergencyShutoff:
        shutoff = self.find(ids.shutoff_id(product, channel), EmergencyShutoff)
        if shutoff is None or shutoff.deleted:
            raise NotFound(f"no emergency shutoff for {product} on {channel}")
        return shutoff

    def get_pin(self, product: str, channel: str, version: str) -> PinnableRelease:
        pin = self.find(ids.pin_id(product, channel, version), PinnableRelease)
        if pin is None or pin.deleted:
            raise NotFound(f"no pin {version} for {product} on {channel}")
        return pin

    # ------------------------------------------------------ the one mechanism
    # The direct-change path, shared with the other command groups: functions of
    # the application (``services.changes``), the application's methods here.

    change = changes.change
    plan_change = changes.plan_change
    prepare_change = changes.prepare_change

    # ------------------------------------------------------- per-kind wrappers

    def create_rule(self, fields: Mapping[str, Any], changed_by: str) -> Rule:
        return changed_as(Rule, self.change("rules", "insert", fields, changed_by))

    def update_rule(
        self, id_or_alias: int | str, data_version: int, changes: Mapping[str, Any], changed_by: str
    ) -> Rule:
        return changed_as(
            Rule,
            self.change(
                "rules",
                "update",
                {**changes, "rule_id": self._rule_id_of(id_or_alias)},
                changed_by,
                data_version,
            ),
        )

    def delete_rule(self, id_or_alias: int | str, data_version: int, changed_by: str) -> Rule:
        rule_id = self._rule_id_of(id_or_alias)
        return changed_as(
            Rule, self.change("rules", "delete", {"rule_id": rule_id}, changed_by, data_version)
        )

    def create_release(
        self,
        name: str,
        product: str,
        blob: Mapping[str, Any],
        changed_by: str,
        read_only: bool = False,
    ) -> Release:
        row = {"name": name, "product": product, "data": dict(blob), "read_only": read_only}
        return changed_as(Release, self.change("releases", "insert", row, changed_by))

    def replace_release_blob(
        self,
        name: str,
        data_version: int,
        blob: Mapping[str, Any],
        changed_by: str,
        product: str | None = None,
    ) -> Release:
        row: dict[str, Any] = {"name": name, "data": dict(blob)}
        if product is not None:
            row["product"] = product
        return changed_as(Release, self.change("releases", "update", row, changed_by, data_version))

    def put_release_locale(
        self,
        name: str,
        platform: str,
        locale: str,
        build: Mapping[str, Any],
        data_version: int,
        changed_by: str,
    ) -> Release:
        """Balrog's per-locale build upload: one locale of one platform of a blob.

        Needs ``release_locale`` (and, as in Balrog, ``release``) to modify,
        and is otherwise a release update: same signoffs, same merge.
        """
        if not isinstance(build, Mapping):
            raise Invalid("build: must be a JSON object", field="data")

        def attempt() -> Release:
            release = self.get_release(name)
            self.check_data_version(f"release {name}", release.data_version, data_version)
            self.require(changed_by, "release_locale.modify", current_product=release.product)
            blob = copy.deepcopy(release.blob)
            platforms = blob.setdefault("platforms", {})
            entry = platforms.setdefault(platform, {})
            entry.setdefault("locales", {})[locale] = dict(build)
            return self._locale_update(name, blob, data_version, changed_by)

        return self.with_retries(attempt)

    def _locale_update(
        self, name: str, blob: dict[str, Any], data_version: int, changed_by: str
    ) -> Release:
        """The release update a locale upload amounts to (without the release/modify
        check's product argument changing: Balrog checks both permissions)."""
        return changed_as(
            Release,
            self.change(
                "releases", "update", {"name": name, "data": blob}, changed_by, data_version
            ),
        )

    def delete_release(self, name: str, data_version: int, changed_by: str) -> Release:
        return changed_as(
            Release, self.change("releases", "delete", {"name": name}, changed_by, data_version)
        )

    def set_release_read_only(
        self, name: str, data_version: int, read_only: bool, changed_by: str
    ) -> Release:
        """Balrog's read-only switch: its own permission, and signoffs to unlock."""
        if not isinstance(read_only, bool):
            raise Invalid("read_only: must be true or false", field="read_only")

        def attempt() -> Release:
            release = self.get_release(name)
            if read_only and release.read_only:
                self.check_data_version(f"release {name}", release.data_version, data_version)
                return release
            # Unlocking a writable release is still recorded: Balrog bumps data_version.
            # Balrog's order: the permission, the signoffs, then the data_version.
            action = "set" if read_only else "unset"
            self.require(changed_by, f"release_read_only.{action}", current_product=release.product)
            if not read_only:
                self.refuse_if_signoffs_needed(
                    f"making release {name} writable",
                    required_for_release_read_write(
                        name,
                        release.product,
                        rules_mapping(self, name),
                        self.policies().rows_of("product"),
                    ),
                )
            self.check_data_version(f"release {name}", release.data_version, data_version)
            release.set_read_only(read_only, changed_by)
            self.save(release)
            return release

        return self.with_retries(attempt)

    def create_shutoff(
        self, product: str, channel: str, changed_by: str, comment: str | None = None
    ) -> EmergencyShutoff:
        row = {"product": product, "channel": channel, "comment": comment}
        return changed_as(
            EmergencyShutoff, self.change("emergency_shutoff", "insert", row, changed_by)
        )

    def delete_shutoff(
        self, product: str, channel: str, data_version: int, changed_by: str
    ) -> EmergencyShutoff:
        row = {"product": product, "channel": channel}
        return changed_as(
            EmergencyShutoff,
            self.change("emergency_shutoff", "delete", row, changed_by, data_version),
        )

    def create_pin(
        self, product: str, channel: str, version: str, mapping: str, changed_by: str
    ) -> PinnableRelease:
        row = {"product": product, "channel": channel, "version": version, "mapping": mapping}
        return changed_as(
            PinnableRelease, self.change("pinnable_releases", "insert", row, changed_by)
        )

    def delete_pin(
        self, product: str, channel: str, version: str, data_version: int, changed_by: str
    ) -> PinnableRelease:
        row = {"product": product, "channel": channel, "version": version}
        return changed_as(
            PinnableRelease,
            self.change("pinnable_releases", "delete", row, changed_by, data_version),
        )

    # --------------------------------------------------------------- import

    def import_snapshot(
        self,
        snapshot: object,
        changed_by: str,
        progress: Progress | None = None,
    ) -> ImportSummary:
        """Record a Balrog snapshot as one fact, or nothing at all.

        ``snapshot`` is a parsed JSON object or a ``SnapshotSource`` (a file read
        item by item: ``services.snapshot_import.snapshot_file``); either way it
        is validated whole before one event is written, then written in batches
        inside one transaction (``services.snapshot_import``), so memory does not
        grow with the snapshot. Only an admin (for all products) may import: an
        import writes rules and releases of every product and bypasses signoff
        policies, as a database restore would.
        """
        self.require_admin(changed_by, "import a snapshot")
        return import_streamed(self, source_of(snapshot), changed_by, progress)
