"""For every permission and option: one command it allows and one it does not.

On the in-memory store (no I/O). ``root`` (admin) sets the scene; ``u`` holds
only the permission under test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from rulelog.domain.errors import PermissionDenied
from rulelog.services.application import RulelogApp
from tests.samples import empty_blob, plain_rule

T0_WHEN = "2100-01-01T00:00:00+00:00"


blob = empty_blob


def rule(product: str, mapping: str) -> dict[str, Any]:
    return plain_rule(mapping, product=product, channel="beta", priority=1)


@pytest.fixture
def app() -> RulelogApp:
    app = RulelogApp()
    app.add_user("root", admin=True, recorded_by="test")
    app.create_release("Fx-1", "Firefox", blob("Fx-1"), "root")
    app.create_release("Tb-1", "Thunderbird", blob("Tb-1"), "root")
    app.create_rule(rule("Firefox", "Fx-1"), "root")  # rule 1
    app.create_shutoff("Firefox", "beta", "root")
    app.grant_permission("other", "rule", {}, "root")
    return app


Command = Callable[[RulelogApp], object]


def create_rule(product: str) -> Command:
    mapping = "Fx-1" if product == "Firefox" else "Tb-1"
    return lambda a: a.create_rule(rule(product, mapping), "u")


def modify_rule(a: RulelogApp) -> object:
    return a.update_rule(1, 1, {"priority": 2}, "u")


def create_release(product: str) -> Command:
    name = f"{product}-2"
    return lambda a: a.create_release(name, product, blob(name), "u")


def put_locale(release: str) -> Command:
    build = {
        "buildID": "20240101000000",
        "complete": {"filesize": 1, "from": "*", "hashValue": "ab"},
    }
    return lambda a: a.put_release_locale(release, "WINNT", "de", build, 1, "u")


def read_only(release: str, value: bool) -> Command:
    def run(a: RulelogApp) -> object:
        current = a.get_release(release)
        if current.read_only != (not value):
            a.set_release_read_only(release, current.data_version, not value, "root")
            current = a.get_release(release)
        return a.set_release_read_only(release, current.data_version, value, "u")

    return run


def create_shutoff(product: str) -> Command:
    return lambda a: a.create_shutoff(product, "aurora", "u")


def delete_shutoff(a: RulelogApp) -> object:
    return a.delete_shutoff("Firefox", "beta", 1, "u")


def create_pin(product: str) -> Command:
    mapping = "Fx-1" if product == "Firefox" else "Tb-1"
    return lambda a: a.create_pin(product, "beta", "1.", mapping, "u")


def add_policy(a: RulelogApp) -> object:
    a.grant_role("root", "relman", "root")
    row = {"product": "Firefox", "channel": "beta", "role": "relman", "signoffs_required": 1}
    return a.add_required_signoff("product", row, "u")


def grant_to_other(a: RulelogApp) -> object:
    return a.grant_permission("other", "release", {}, "u")


def revoke_from_other(a: RulelogApp) -> object:
    return a.revoke_permission("other", "rule", 1, "u")


def enact(a: RulelogApp) -> object:
    sc = a.schedule_change(
        "rules", "update", {"rule_id": 1, "priority": 9}, {"when": T0_WHEN}, "root", data_version=1
    )
    return a.enact_scheduled_change("rules", sc.sc_id, "u")


MATRIX: list[tuple[str, dict[str, Any] | None, Command, Command]] = [
    ("admin", None, create_release("Thunderbird"), lambda a: a.import_snapshot({}, "nobody")),
    ("admin", {"products": ["Firefox"]}, create_rule("Firefox"), create_rule("Thunderbird")),
    ("rule", None, create_rule("Thunderbird"), create_release("Firefox")),
    ("rule", {"actions": ["create"]}, create_rule("Firefox"), modify_rule),
    ("rule", {"products": ["Firefox"]}, modify_rule, create_rule("Thunderbird")),
    (
        "release",
        {"actions": ["create"]},
        create_release("Firefox"),
        lambda a: a.delete_release("Tb-1", 1, "u"),
    ),
    (
        "release",
        {"products": ["Thunderbird"]},
        create_release("Thunderbird"),
        create_release("Firefox"),
    ),
    (
        "release_locale",
        {"actions": ["modify"], "products": ["Firefox"]},
        put_locale("Fx-1"),
        put_locale("Tb-1"),
    ),
    ("release_read_only", {"actions": ["set"]}, read_only("Fx-1", True), read_only("Fx-1", False)),
    (
        "release_read_only",
        {"products": ["Thunderbird"]},
        read_only("Tb-1", True),
        read_only("Fx-1", True),
    ),
    ("emergency_shutoff", {"actions": ["create"]}, create_shutoff("Firefox"), delete_shutoff),
    (
        "emergency_shutoff",
        {"products": ["Thunderbird"]},
        create_shutoff("Thunderbird"),
        create_shutoff("Firefox"),
    ),
    (
        "pinnable_release",
        {"products": ["Firefox"]},
        create_pin("Firefox"),
        create_pin("Thunderbird"),
    ),
    ("required_signoff", None, add_policy, grant_to_other),
    ("scheduled_change", {"actions": ["enact"]}, enact, create_rule("Firefox")),
    ("permission", {"actions": ["create"]}, grant_to_other, revoke_from_other),
]


@pytest.mark.parametrize(
    ("permission", "options", "allowed", "denied"),
    MATRIX,
    ids=[
        f"{p}-{'-'.join(sorted((o or {}).keys())) or 'plain'}-{i}"
        for i, (p, o, *_) in enumerate(MATRIX)
    ],
)
def test_permission_matrix(
    app: RulelogApp,
    permission: str,
    options: dict[str, Any] | None,
    allowed: Command,
    denied: Command,
) -> None:
    app.grant_permission("u", permission, copy.deepcopy(options), "root")
    if permission == "release_locale":
        app.grant_permission("u", "release", {"actions": ["modify"]}, "root")
    allowed(app)
    before = app.recorder.max_notification_id()
    with pytest.raises(PermissionDenied):
        denied(app)
    assert app.recorder.max_notification_id() == before


def test_nobody_without_permissions_can_change_anything(app: RulelogApp) -> None:
    for command in (create_rule("Firefox"), create_release("Firefox"), create_shutoff("Firefox")):
        with pytest.raises(PermissionDenied):
            command(app)
