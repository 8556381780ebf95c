"""Balrog's admin API v2 release writes: per-part data_versions over one stream.

A v2 write names parts (the base ``"."`` and each
``platforms.<p>.locales.<l>``) with the data_version it last read of each.
Only the parts it changes are checked and recorded (one
``Release.PartsChanged``); so writers of different locales never refuse each
other: when two of them race to append to the release's stream, the loser is
re-run against the fresh release, where its own parts still check out.
Writers of the same part meet Balrog's ``OutdatedDataError``.

A write given ``when`` is scheduled instead: one scheduled release update
whose row is the whole blob the write would leave (rulelog schedules a
release as one change, so one signoff covers all of its parts); each part the
write changes answers with that change's details, as Balrog answers per part.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError

from rulelog.domain import ids
from rulelog.domain.catalog.release_parts import (
    BASE,
    Path,
    apply_parts,
    base_of,
    compose,
    deep_merge,
    dotted,
    get_path,
    nested,
    parts_of,
    set_path,
)
from rulelog.domain.catalog.releases import Release, check_release_identity
from rulelog.domain.errors import Conflict, Invalid, NotFound, SignoffRequired
from rulelog.domain.serving.blobs.validation import check_download_domains, validate_blob
from rulelog.domain.workflow.scheduling import PendingTarget, ScheduledChange
from rulelog.services.targets import Current, rules_mapping, target_for

if TYPE_CHECKING:  # the application imports the services that use it
    from rulelog.services.application import RulelogApp

#: Different-part writers only race to append; each retry re-checks its own parts.
V2_WRITE_ATTEMPTS = 200

#: Striped locks: v2 writers of the same release in one process queue instead of racing.
_STRIPES = tuple(threading.Lock() for _ in range(64))

SIGNOFF_REQUIRED = "Signoff is required, cannot update Release directly"


def outdated(what: str, current: int, given: object) -> Conflict:
    return Conflict(
        f"{what} has data_version {current}, not {given}: it was changed meanwhile",
        reason="outdated",
        current=current,
        given=given,
    )


def unknown_error(message: str) -> Invalid:
    """What Balrog's ``ValueError`` handler answers: 400 "Unknown error"."""
    return Invalid(message, detail="Unknown error")


class ReleasesV2:
    """The v2 release commands, over the application's store and commands."""

    def __init__(self, app: RulelogApp) -> None:
        self.app = app

    # ------------------------------------------------------------- reads

    def find(self, name: str) -> Release | None:
        release = self.app.find(ids.release_id(name), Release)
        return None if release is None or release.deleted else release

    def base_versions(self, names: Iterable[str]) -> dict[str, int]:
        """Each live release's base (``"."``) data_version, as Balrog's v2 list shows it.

        Read in one statement for the whole list (``adapters.batch_reads``), not
        one read per release: the list names every release of the store.
        """
        wanted = {ids.release_id(name): name for name in names}
        found = self.app.reader.get_many(wanted)
        return {
            wanted[key]: release.part_versions.get(BASE, 1)
            for key, release in found.items()
            if isinstance(release, Release) and not release.deleted
        }

    def pending(self, name: str) -> ScheduledChange | None:
        lock = self.app.find(ids.pending_target_id("releases", name), PendingTarget)
        if lock is None or lock.sc_id is None:
            return None
        return self.app.find(ids.scheduled_change_id("releases", lock.sc_id), ScheduledChange)

    @staticmethod
    def data_versions(release: Release) -> dict[str, Any]:
        versions = release.part_versions
        flat = {tuple(k.split(".")[1:]): v for k, v in versions.items() if k != BASE}
        return nested(flat, versions.get(BASE, 1))

    def read(self, name: str) -> dict[str, Any] | None:
        """Balrog's ``get_release``: blob and data_versions, and the pending change's."""
        release = self.find(name)
        sc = self.pending(name)
        if release is None and sc is None:
            return None
        blob = copy.deepcopy(release.blob) if release is not None else {}
        out: dict[str, Any] = {
            "blob": blob,
            "data_versions": self.data_versions(release) if release is not None else {},
            "sc_blob": {},
            "sc_data_versions": {},
        }
        if sc is not None:
            new = (sc.row or {}).get("data") if sc.change_type != "delete" else None
            out["sc_blob"] = copy.deepcopy(new) if isinstance(new, dict) else {}
            touched: dict[Path, int] = {
                path: sc.data_version for path in changed_parts(blob, out["sc_blob"] or {})
            }
            out["sc_data_versions"] = nested(touched, sc.data_version)
        return out

    # ------------------------------------------------------------ writes

    def update(
        self,
        name: str,
        blob: Mapping[str, Any],
        old_data_versions: Mapping[str, Any],
        when: int | None,
        changed_by: str,
    ) -> dict[str, Any]:
        """POST: merge ``blob`` into the release, part by part (Balrog's update_release)."""

        def plan(release: Release) -> tuple[dict[str, Any], dict[str, Any]]:
            answer = copy.deepcopy(dict(old_data_versions))
            current = release.blob
            base, parts = base_of(blob), parts_of(blob)
            new_base = None
            if base and base != base_of(current):
                merged = deep_merge(base_of(current), base)
                if merged != base_of(current):
                    new_base = merged
            changes: dict[Path, Any] = {}
            current_parts = parts_of(current)
            for path, item in parts.items():
                if path in current_parts:
                    if item == current_parts[path]:
                        continue
                    if not get_path(old_data_versions, path):
                        raise unknown_error(f"Missing data_version for {dotted(path)}")
                    merged_part = copy.deepcopy(current_parts[path])
                    if isinstance(merged_part, dict) and isinstance(item, Mapping):
                        deep_merge(merged_part, item)
                    else:
                        merged_part = copy.deepcopy(item)
                    changes[path] = merged_part
                else:
                    changes[path] = copy.deepcopy(item)
            return self._plan_answer(release, answer, new_base, changes, old_data_versions)

        return self._write(name, None, plan, when, changed_by, must_exist=True)

    def ensure(
        self,
        name: str,
        blob: Mapping[str, Any],
        product: str | None,
        old_data_versions: Mapping[str, Any] | None,
        when: int | None,
        changed_by: str,
    ) -> dict[str, Any]:
        """PUT: make the release exactly ``blob`` (Balrog's set_release)."""
        old = old_data_versions or {}

        def plan(release: Release) -> tuple[dict[str, Any], dict[str, Any]]:
            current = release.blob
            new_base = base_of(blob)
            changes: dict[Path, Any] = {}
            current_parts, new_parts = parts_of(current), parts_of(blob)
            for path, item in new_parts.items():
                if current_parts.get(path, _MISSING) != item:
                    changes[path] = copy.deepcopy(item)
            for path in current_parts.keys() - new_parts.keys():
                if not get_path(old, path):
                    raise unknown_error(
                        "old_data_version must be passed for Tables that are versioned"
                    )
                changes[path] = None
            base = new_base if new_base != base_of(current) else None
            return self._plan_answer(release, {}, base, changes, old)

        return self._write(name, product, plan, when, changed_by, must_exist=False, whole=blob)

    # ------------------------------------------------------ the write itself

    @staticmethod
    def _plan_answer(
        release: Release,
        answer: dict[str, Any],
        new_base: dict[str, Any] | None,
        changes: dict[Path, Any],
        old: Mapping[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check each changed part's data_version; the answer and the event's parts."""
        versions = release.part_versions
        if new_base is not None:
            given = old.get(BASE) if isinstance(old, Mapping) else None
            current = versions.get(BASE, 1)
            if given is None:
                raise unknown_error(f"Missing data_version for {BASE}")
            if given != current:
                raise outdated(f"release {release.name}", current, given)
            answer[BASE] = current + 1
        parts: dict[str, Any] = {}
        for path, data in sorted(changes.items()):
            key = dotted(path)
            stored = versions.get(key)
            given = get_path(old, path)
            if stored is not None and given is not None and given != stored:
                raise outdated(f"{release.name} {key}", stored, given)
            if stored is not None and given is None and data is not None:
                # Balrog inserts a row that exists: refused (it was added meanwhile).
                raise outdated(f"{release.name} {key}", stored, given)
            parts[key] = data
            if data is not None:
                set_path(answer, path, (stored or 0) + 1)
        return answer, {"base": new_base, "parts": parts}

    def _write(
        self,
        name: str,
        product: str | None,
        plan: Any,
        when: int | None,
        changed_by: str,
        *,
        must_exist: bool,
        whole: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        # Writers of one release in this process take turns rather than race to
        # append (each lost race costs a re-read); other processes still race,
        # and the loop below re-runs the loser.
        with _STRIPES[hash(name) % len(_STRIPES)]:
            app = self.app
            for _ in range(V2_WRITE_ATTEMPTS):
                release = self.find(name)
                if release is None:
                    if must_exist:
                        raise NotFound(f"release {name} does not exist", release=name)
                    return self._create(name, product, whole or {}, when, changed_by)
                app.require(changed_by, "release.modify", current_product=release.product)
                if product and product != release.product:
                    app.require(changed_by, "release.modify", current_product=product)
                if release.read_only:
                    verb = "update" if must_exist else "overwrite"
                    raise Invalid(
                        f"Cannot {verb} a Release that is marked as read-only",
                        field="read_only",
                        detail="Read only",
                    )
                answer, change = plan(release)
                new_blob = _apply(release.blob, change)
                changed = change["base"] is not None or bool(change["parts"])
                if changed:
                    self._validate(name, _to_validate(new_blob, change), product or release.product)
                sc = self.pending(name)
                if not changed:
                    if sc is not None and whole is not None:
                        # Balrog: setting the current data cancels the pending change.
                        app.cancel_scheduled_change(
                            "releases", sc.sc_id, sc.data_version, changed_by
                        )
                    return answer
                if when is None:
                    if self._required(release):
                        raise SignoffRequired(SIGNOFF_REQUIRED, balrog=SIGNOFF_REQUIRED)
                    release.change_parts(
                        product=product or release.product,
                        base=change["base"],
                        parts=change["parts"],
                        changed_by=changed_by,
                    )
                    try:
                        app.save(release)
                    except IntegrityError:
                        continue  # another part's writer appended first: check again
                    return answer
                return self._schedule(release, new_blob, product, change, answer, when, changed_by)
            raise Conflict("too many concurrent writers; try again")

    def _required(self, release: Release) -> list[Any]:
        """The signoffs a direct change of ``release`` needs (as for a v1 update)."""
        row = {"name": release.name, "product": release.product, "data": release.blob}
        current = Current(row, release.data_version, release)
        return target_for("releases").required(self.app, current, None)

    def _validate(self, name: str, blob: dict[str, Any], product: str) -> None:
        try:
            validate_blob(blob, name=name)
            if self.app.domain_allowlist is not None:
                check_download_domains(blob, product, self.app.domain_allowlist)
        except Invalid as error:
            raise Invalid(str(error), detail="Invalid Blob", exception=[str(error)]) from None

    def _create(
        self,
        name: str,
        product: str | None,
        blob: Mapping[str, Any],
        when: int | None,
        changed_by: str,
    ) -> dict[str, Any]:
        check_release_identity(name, product)
        assert product is not None
        self.app.require(changed_by, "release.create", current_product=product)
        self._validate(name, dict(blob), product)
        answer: dict[str, Any] = {}
        if when is not None:
            row = {"name": name, "product": product, "data": dict(blob), "read_only": False}
            sc = self.app.schedule_change("releases", "insert", row, {"when": when}, changed_by)
            detail = _sc_detail(sc, "insert", when)
            answer[BASE] = detail
            for path in parts_of(blob):
                set_path(answer, path, detail)
            return answer
        self.app.create_release(name, product, blob, changed_by)
        answer[BASE] = 1
        for path in parts_of(blob):
            set_path(answer, path, 1)
        return answer

    def _schedule(
        self,
        release: Release,
        new_blob: dict[str, Any],
        product: str | None,
        change: dict[str, Any],
        answer: dict[str, Any],
        when: int,
        changed_by: str,
    ) -> dict[str, Any]:
        row = {"name": release.name, "product": product or release.product, "data": new_blob}
        sc = self.app.schedule_change(
            "releases", "update", row, {"when": when}, changed_by, release.data_version
        )
        if change["base"] is not None:
            answer[BASE] = _sc_detail(sc, "update", when)
        for key, data in change["parts"].items():
            path = tuple(key.split(".")[1:])
            kind = (
                "delete"
                if data is None
                else ("update" if key in release.part_versions else "insert")
            )
            set_path(answer, path, _sc_detail(sc, kind, when))
        return answer

    # --------------------------------------------------- other v2 commands

    def set_read_only(
        self, name: str, read_only: bool, old_data_version: int, changed_by: str
    ) -> dict[str, Any]:
        """Balrog's v2 read-only switch: unlocking a guarded release is scheduled."""
        app = self.app
        for _ in range(V2_WRITE_ATTEMPTS):
            release = self.find(name)
            if release is None:
                raise NotFound(f"release {name} does not exist", release=name)
            use_sc = False
            if read_only is False:
                mapped = rules_mapping(app, name)
                reqs = self._required(release)
                product_policies = [
                    p
                    for p in app.policies().rows_of("product")
                    if p.get("product") == release.product
                ]
                use_sc = bool(reqs and mapped) or bool(product_policies)
            # Balrog's v2 names the actions the other way round from its v1.
            action = "unset" if read_only else "set"
            app.require(changed_by, f"release_read_only.{action}", current_product=release.product)
            current = release.part_versions.get(BASE, 1)
            if old_data_version != current:
                raise outdated(f"release {name}", current, old_data_version)
            if use_sc:
                when = int(app.now().timestamp() * 1000) + 30000
                row = {
                    "name": name,
                    "product": release.product,
                    "data": release.blob,
                    "read_only": read_only,
                }
                sc = app.schedule_change(
                    "releases", "update", row, {"when": when}, changed_by, release.data_version
                )
                return {BASE: _sc_detail(sc, "update", when)}
            release.set_read_only(read_only, changed_by)
            try:
                app.save(release)
            except IntegrityError:
                continue
            return {BASE: current + 1}
        raise Conflict("too many concurrent writers; try again")

    def delete(self, name: str, changed_by: str) -> None:
        """Balrog's v2 delete: the pending change first, then the release."""
        app = self.app
        sc = self.pending(name)
        release = self.find(name)
        if sc is not None:
            product = (sc.row or {}).get("product") or (release.product if release else None)
            app.require(changed_by, "release.delete", current_product=product)
            app.cancel_scheduled_change("releases", sc.sc_id, sc.data_version, changed_by)
        if release is None:
            return
        if rules_mapping(app, name):
            raise unknown_error("Cannot delete release that is mapped to")
        app.require(changed_by, "release.delete", current_product=release.product)
        if release.read_only:
            raise Invalid(
                "Cannot delete a Release that is marked as read-only",
                field="read_only",
                detail="Read only",
            )
        app.delete_release(name, release.data_version, changed_by)


_MISSING = object()


def changed_parts(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Path]:
    """The parts that differ between two whole blobs (set, changed or removed)."""
    a, b = parts_of(old), parts_of(new)
    return sorted(p for p in a.keys() | b.keys() if a.get(p, _MISSING) != b.get(p, _MISSING))


def _apply(blob: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    return apply_parts(blob, change["base"], change["parts"])


def _to_validate(new_blob: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """What a write must have checked: the whole blob if its base changed, else the
    base with only the parts it sets (each part's rules are its own, and the
    others were checked when they were written; a nightly holds hundreds)."""
    if change["base"] is not None:
        return new_blob
    written = {
        tuple(key.split(".")[1:]): data for key, data in change["parts"].items() if data is not None
    }
    return compose(base_of(new_blob), written)


def _sc_detail(sc: ScheduledChange, change_type: str, when: int) -> dict[str, Any]:
    return {
        "sc_id": sc.sc_id,
        "change_type": change_type,
        "data_version": 1,
        "signoffs": dict(sc.signoffs),
        "when": when,
    }


__all__ = ["ReleasesV2", "changed_parts"]
