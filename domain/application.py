"""The command surface of rulelog: one ``eventsourcing`` Application.

Each command reads the aggregates it needs, calls their domain methods, and
saves every touched aggregate in one atomic ``save``. Optimistic concurrency
is the store's: two writers of the same aggregate version meet an
``IntegrityError``, which a command retries with a fresh read (so a stale
``data_version`` is then reported as ``Conflict``, and an id allocation race
simply takes the next id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain import ids
from domain.blobs.validation import validate_blob
from domain.errors import Conflict, Invalid, NotFound
from domain.importing import ImportSummary, plan_import
from domain.pins import PinnableRelease
from domain.releases import Release, ReleaseUsage, check_release_identity
from domain.rules import MAPPING_COLUMNS, AliasClaim, Rule
from domain.sequence import Sequence
from domain.shutoff_fields import normalize_pin, normalize_shutoff
from domain.shutoffs import EmergencyShutoff

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

RULE_SEQUENCE = "rules"
#: How often a command re-reads and retries after losing a write race.
WRITE_ATTEMPTS = 5


def rule_ref(rule_id: int) -> str:
    """How a rule is named in a release's usage index."""
    return f"rule {rule_id}"


class RulelogApp(Application):
    """Commands for rules, releases, emergency shutoffs and pins."""

    name = "rulelog"
    snapshotting_intervals: ClassVar = {Sequence: 50, ReleaseUsage: 50}

    # ----------------------------------------------------------------- reading

    def find(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        """The aggregate with this id, or None if it was never created."""
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        if not isinstance(found, cls):  # pragma: no cover - ids are namespaced per kind
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not {cls.__name__}")
        return found

    def get_rule(self, id_or_alias: int | str) -> Rule:
        """A live rule by integer id (or digit string) or by alias."""
        rule_id = self._resolve_rule_id(id_or_alias)
        rule = self.find(ids.rule_id(rule_id), Rule) if rule_id is not None else None
        if rule is None or rule.deleted:
            raise NotFound(f"rule {id_or_alias} does not exist", rule=id_or_alias)
        return rule

    def _resolve_rule_id(self, id_or_alias: int | str) -> int | None:
        if isinstance(id_or_alias, int):
            return id_or_alias
        if id_or_alias.isdigit():
            return int(id_or_alias)
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
            raise NotFound(
                f"no emergency shutoff for {product} on {channel}", product=product, channel=channel
            )
        return shutoff

    def get_pin(self, product: str, channel: str, version: str) -> PinnableRelease:
        pin = self.find(ids.pin_id(product, channel, version), PinnableRelease)
        if pin is None or pin.deleted:
            raise NotFound(
                f"no pin {version} for {product} on {channel}",
                product=product,
                channel=channel,
                version=version,
            )
        return pin

    # ------------------------------------------------------------------ rules

    def create_rule(self, fields: Mapping[str, Any], changed_by: str) -> Rule:
        """Create a rule with the next free rule_id."""

        def attempt() -> Rule:
            sequence = self._sequence(RULE_SEQUENCE)
            rule = Rule.create(sequence.allocate(), fields, changed_by)
            touched: list[Aggregate] = [sequence, rule]
            touched += self._claim_alias(rule.alias, rule.rule_id)
            touched += self._attach_mappings(rule, set())
            self.save(*touched)
            return rule

        return self._with_retries(attempt)

    def update_rule(
        self,
        id_or_alias: int | str,
        data_version: int,
        changes: Mapping[str, Any],
        changed_by: str,
    ) -> Rule:
        """Apply the changed fields of ``changes`` if ``data_version`` is current."""

        def attempt() -> Rule:
            rule = self.get_rule(id_or_alias)
            self._check_data_version(f"rule {rule.rule_id}", rule.data_version, data_version)
            old_alias, old_mapped = rule.alias, rule.mapped_releases()
            rule.update(changes, changed_by)
            touched: list[Aggregate] = [rule]
            if rule.alias != old_alias:
                touched += self._release_alias(old_alias)
                touched += self._claim_alias(rule.alias, rule.rule_id)
            touched += self._attach_mappings(rule, old_mapped)
            self.save(*touched)
            return rule

        return self._with_retries(attempt)

    def delete_rule(self, id_or_alias: int | str, data_version: int, changed_by: str) -> Rule:
        def attempt() -> Rule:
            rule = self.get_rule(id_or_alias)
            self._check_data_version(f"rule {rule.rule_id}", rule.data_version, data_version)
            touched: list[Aggregate] = [rule, *self._release_alias(rule.alias)]
            for name in sorted(rule.mapped_releases()):
                usage = self._usage(name)
                usage.detach(rule_ref(rule.rule_id))
                touched.append(usage)
            rule.delete(changed_by)
            self.save(*touched)
            return rule

        return self._with_retries(attempt)

    def _sequence(self, name: str) -> Sequence:
        return self.find(ids.sequence_id(name), Sequence) or Sequence(name=name)

    def _claim_alias(self, alias: str | None, rule_id: int) -> list[Aggregate]:
        if alias is None:
            return []
        claim = self.find(ids.alias_id(alias), AliasClaim)
        if claim is None:
            return [AliasClaim(alias=alias, rule_id=rule_id)]
        if claim.rule_id is not None and claim.rule_id != rule_id:
            raise Conflict(f"alias: {alias} is already used by rule {claim.rule_id}", field="alias")
        claim.claim(rule_id=rule_id)
        return [claim]

    def _release_alias(self, alias: str | None) -> list[Aggregate]:
        claim = self.find(ids.alias_id(alias), AliasClaim) if alias else None
        if claim is None:
            return []
        claim.release()
        return [claim]

    def _attach_mappings(self, rule: Rule, old: set[str]) -> list[Aggregate]:
        """Keep the usage index of each release this rule starts or stops naming."""
        new = rule.mapped_releases()
        for column in MAPPING_COLUMNS:
            name = rule.fields.get(column)
            if name and name not in old:
                self._require_release(name, field=column)
        touched: list[Aggregate] = []
        for name in sorted(new - old):
            usage = self._usage(name)
            usage.attach(rule_ref(rule.rule_id))
            touched.append(usage)
        for name in sorted(old - new):
            usage = self._usage(name)
            usage.detach(rule_ref(rule.rule_id))
            touched.append(usage)
        return touched

    def _usage(self, name: str) -> ReleaseUsage:
        return self.find(ids.release_usage_id(name), ReleaseUsage) or ReleaseUsage(name=name)

    # --------------------------------------------------------------- releases

    def create_release(
        self,
        name: str,
        product: str,
        blob: Mapping[str, Any],
        changed_by: str,
        read_only: bool = False,
    ) -> Release:
        check_release_identity(name, product)
        validate_blob(blob, name=name)

        def attempt() -> Release:
            existing = self.find(ids.release_id(name), Release)
            if existing is None:
                release = Release(
                    name=name,
                    product=product,
                    blob=dict(blob),
                    read_only=read_only,
                    changed_by=changed_by,
                )
                self.save(release, self._usage(name))
                return release
            if not existing.deleted:
                raise Conflict(f"release {name} already exists", field="name", release=name)
            existing.recreate(
                product=product, blob=dict(blob), read_only=read_only, changed_by=changed_by
            )
            self.save(existing)
            return existing

        return self._with_retries(attempt)

    def replace_release_blob(
        self,
        name: str,
        data_version: int,
        blob: Mapping[str, Any],
        changed_by: str,
        product: str | None = None,
    ) -> Release:
        validate_blob(blob, name=name)

        def attempt() -> Release:
            release = self.get_release(name)
            self._check_data_version(f"release {name}", release.data_version, data_version)
            new_product = product if product is not None else release.product
            check_release_identity(name, new_product)
            release.replace_blob(product=new_product, blob=dict(blob), changed_by=changed_by)
            self.save(release)
            return release

        return self._with_retries(attempt)

    def set_release_read_only(
        self, name: str, data_version: int, read_only: bool, changed_by: str
    ) -> Release:
        def attempt() -> Release:
            release = self.get_release(name)
            self._check_data_version(f"release {name}", release.data_version, data_version)
            release.set_read_only(read_only, changed_by)
            self.save(release)
            return release

        return self._with_retries(attempt)

    def delete_release(self, name: str, data_version: int, changed_by: str) -> Release:
        def attempt() -> Release:
            release = self.get_release(name)
            self._check_data_version(f"release {name}", release.data_version, data_version)
            usage = self._usage(name)
            usage.retire()
            release.delete(changed_by)
            self.save(release, usage)
            return release

        return self._with_retries(attempt)

    # ---------------------------------------------------- shutoffs and pins

    def create_shutoff(
        self, product: str, channel: str, changed_by: str, comment: str | None = None
    ) -> EmergencyShutoff:
        row = normalize_shutoff({"product": product, "channel": channel, "comment": comment})

        def attempt() -> EmergencyShutoff:
            key = ids.shutoff_id(row["product"], row["channel"])
            existing = self.find(key, EmergencyShutoff)
            if existing is None:
                shutoff = EmergencyShutoff(**row, changed_by=changed_by)
            elif existing.deleted:
                existing.recreate(comment=row["comment"], changed_by=changed_by)
                shutoff = existing
            else:
                raise Conflict(
                    f"an emergency shutoff for {product} on {channel} already exists",
                    product=product,
                    channel=channel,
                )
            self.save(shutoff)
            return shutoff

        return self._with_retries(attempt)

    def delete_shutoff(
        self, product: str, channel: str, data_version: int, changed_by: str
    ) -> EmergencyShutoff:
        def attempt() -> EmergencyShutoff:
            shutoff = self.get_shutoff(product, channel)
            self._check_data_version(
                f"emergency shutoff {product}/{channel}", shutoff.data_version, data_version
            )
            shutoff.delete(changed_by)
            self.save(shutoff)
            return shutoff

        return self._with_retries(attempt)

    def create_pin(
        self, product: str, channel: str, version: str, mapping: str, changed_by: str
    ) -> PinnableRelease:
        row = normalize_pin(
            {"product": product, "channel": channel, "version": version, "mapping": mapping}
        )

        def attempt() -> PinnableRelease:
            self._require_release(row["mapping"], field="mapping")
            key = ids.pin_id(row["product"], row["channel"], row["version"])
            existing = self.find(key, PinnableRelease)
            if existing is None:
                pin = PinnableRelease(**row, changed_by=changed_by)
            elif existing.deleted:
                existing.recreate(mapping=row["mapping"], changed_by=changed_by)
                pin = existing
            else:
                raise Conflict(
                    f"pin {version} for {product} on {channel} already exists",
                    product=product,
                    channel=channel,
                    version=version,
                )
            self.save(pin)
            return pin

        return self._with_retries(attempt)

    def delete_pin(
        self, product: str, channel: str, version: str, data_version: int, changed_by: str
    ) -> PinnableRelease:
        def attempt() -> PinnableRelease:
            pin = self.get_pin(product, channel, version)
            self._check_data_version(
                f"pin {product}/{channel}/{version}", pin.data_version, data_version
            )
            pin.delete(changed_by)
            self.save(pin)
            return pin

        return self._with_retries(attempt)

    def _require_release(self, name: str, field: str) -> Release:
        release = self.find(ids.release_id(name), Release)
        if release is None or release.deleted:
            raise Invalid(f"{field}: no release named {name}", field=field, release=name)
        return release

    # ----------------------------------------------------------------- import

    def import_snapshot(
        self,
        snapshot: object,
        changed_by: str,
        progress: Callable[[int], None] | None = None,
    ) -> ImportSummary:
        """Record a Balrog snapshot in one atomic save, or nothing at all."""
        plan = plan_import(snapshot, self.find, changed_by, progress, assume_new=True)
        try:
            events = plan.pending_event_count()
            self.save(*plan.aggregates)
        except IntegrityError:
            # Something the snapshot creates exists already: plan again with
            # lookups, which names the clash (or continues a deleted row).
            plan = plan_import(snapshot, self.find, changed_by)
            events = plan.pending_event_count()
            self.save_atomically(plan.aggregates)
        return ImportSummary(
            rules=plan.rules,
            releases=plan.releases,
            emergency_shutoffs=plan.emergency_shutoffs,
            pinnable_releases=plan.pinnable_releases,
            events=events,
        )

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _check_data_version(what: str, current: int, given: object) -> None:
        if not isinstance(given, int) or isinstance(given, bool):
            raise Invalid(f"data_version: must be an integer, got {given!r}", field="data_version")
        if given != current:
            raise Conflict(
                f"{what} has data_version {current}, not {given}: it was changed meanwhile",
                field="data_version",
                current=current,
                given=given,
            )

    @staticmethod
    def _with_retries(attempt: Callable[[], T]) -> T:
        for _ in range(WRITE_ATTEMPTS - 1):
            try:
                return attempt()
            except IntegrityError:
                continue  # lost a write race: re-read and re-check
        try:
            return attempt()
        except IntegrityError as error:
            raise Conflict("too many concurrent writers; try again") from error

    def save_atomically(self, aggregates: Iterable[Aggregate]) -> None:
        """Save a prepared batch (an import) as one fact, or report why not."""
        try:
            self.save(*aggregates)
        except IntegrityError as error:
            raise Conflict(
                "the store changed while the batch was prepared; nothing was saved"
            ) from error
