"""Each kind's key columns, defined once, agree with the key each target builds."""

from __future__ import annotations

import pytest

from rulelog.domain.workflow.kinds import KEY_COLUMNS, key_row
from rulelog.domain.workflow.scheduling import KINDS
from rulelog.services.targets import target_for

ROWS = {
    "rules": {"rule_id": 12},
    "releases": {"name": "Firefox-121.0-build1"},
    "emergency_shutoff": {"product": "Firefox", "channel": "release"},
    "pinnable_releases": {"product": "Firefox", "channel": "release", "version": "121."},
    "required_signoffs/product": {"product": "Firefox", "channel": "release", "role": "relman"},
    "required_signoffs/permissions": {"product": "Firefox", "role": "relman"},
    "permissions": {"username": "ci/bot@example.com", "permission": "release"},
}


def test_every_kind_has_key_columns() -> None:
    assert set(KEY_COLUMNS) == set(KINDS) == set(ROWS)


@pytest.mark.parametrize("kind", KINDS)
def test_key_row_reads_back_the_key_a_target_builds(kind: str) -> None:
    row = ROWS[kind]
    assert tuple(row) == KEY_COLUMNS[kind]
    assert key_row(kind, target_for(kind).key(dict(row))) == row


def test_a_new_rule_key_names_no_row() -> None:
    assert key_row("rules", "new:7") == {}
