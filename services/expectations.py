"""Adding, changing, removing and importing expectations.

An expectation is governed like the rules it is about: adding, changing and
removing one needs the ``rule`` permission (create, modify, delete) for its
product, checked as Balrog checks rule edits. An import is one save: every
line is validated first and every aggregate written together, so a bad line
(or a store race) stores none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eventsourcing.domain import Aggregate

from rulelog.domain import ids
from rulelog.domain.errors import Conflict, NotFound
from rulelog.domain.workflow.expectations import Expectation, spec_fields, validate_spec
from rulelog.services.app_base import AppBase


class ExpectationCommands(AppBase):
    """Expectations about what clients are served (a mixin on ``AppBase``)."""

    def get_expectation(self, name: str) -> Expectation:
        found = self.find(ids.expectation_id(name), Expectation)
        if found is None or found.removed:
            raise NotFound(f"expectation {name} does not exist", expectation=name)
        return found

    def _put(self, spec: Mapping[str, Any], changed_by: str, replace: bool) -> Expectation:
        """A new expectation, a removed one added again, or (``replace``) a changed one."""
        found = self.find(ids.expectation_id(spec["name"]), Expectation)
        fields = {**spec_fields(spec), "changed_by": changed_by, "reason": spec.get("reason")}
        if found is None or found.removed:
            self.require(changed_by, "rule.create", new_product=spec["product"])
        if found is None:
            return Expectation(name=spec["name"], **fields)
        if found.removed:
            found.readd(**fields)
        elif replace:
            self._require_modify(found, spec, changed_by)
            found.change(spec, changed_by, spec.get("reason"))
        else:
            raise Conflict(f"expectation {spec['name']} already exists", expectation=spec["name"])
        return found

    def _require_modify(self, found: Expectation, spec: Mapping[str, Any], by: str) -> None:
        self.require(by, "rule.modify", current_product=found.product, new_product=spec["product"])

    def add_expectation(self, raw: Mapping[str, Any], changed_by: str) -> Expectation:
        spec = validate_spec(raw)

        def attempt() -> Expectation:
            made = self._put(spec, changed_by, replace=False)
            self.save(made)
            return made

        return self.with_retries(attempt)

    def change_expectation(self, raw: Mapping[str, Any], changed_by: str) -> Expectation:
        spec = validate_spec(raw)

        def attempt() -> Expectation:
            found = self.get_expectation(spec["name"])
            self._require_modify(found, spec, changed_by)
            found.change(spec, changed_by, spec.get("reason"))
            self.save(found)
            return found

        return self.with_retries(attempt)

    def remove_expectation(self, name: str, changed_by: str, reason: str | None) -> Expectation:
        def attempt() -> Expectation:
            found = self.get_expectation(name)
            self.require(changed_by, "rule.delete", current_product=found.product)
            found.remove(changed_by, reason)
            self.save(found)
            return found

        return self.with_retries(attempt)

    def import_expectations(
        self, specs: list[dict[str, Any]], changed_by: str
    ) -> list[Expectation]:
        """Add or replace every spec (already validated by ``parse_import``) in one save."""

        def attempt() -> list[Expectation]:
            self.read_ahead([ids.expectation_id(s["name"]) for s in specs])
            made: list[Aggregate] = [self._put(s, changed_by, replace=True) for s in specs]
            self.save_atomically(made)
            return made  # type: ignore[return-value]

        return self.with_retries(attempt)
