"""Scheduled release changes where Balrog's answers were missed before (issue 13, item 5)."""

from __future__ import annotations

import copy
import json

import pytest

from tests.e2e.conftest import AdminClient
from tests.e2e.scheduled_support import WHEN, load

RELEASE = "Firefox-121.0-build1"  # rule 1 maps it on Firefox release


@pytest.fixture
def guarded(admin: AdminClient, fixture_snapshot: dict) -> AdminClient:
    return load(admin, fixture_snapshot, ("alice", "releng"), guarded=True)


def schedule(admin: AdminClient, **row: object) -> int:
    release = admin.service.get_release(RELEASE)
    body = {
        "change_type": "update",
        "when": WHEN,
        "name": RELEASE,
        "product": "Firefox",
        "data": json.dumps(release.blob),
        "data_version": release.data_version,
        **row,
    }
    made = admin.post("/scheduled_changes/releases", body)
    assert made.status == 200, made.text
    return made.json["sc_id"]


def test_a_cancelled_change_is_not_listed_even_with_all(guarded: AdminClient) -> None:
    sc_id = schedule(guarded)
    assert (
        guarded.delete(f"/scheduled_changes/releases/{sc_id}", query={"data_version": 1}).status
        == 200
    )
    listed = guarded.get("/scheduled_changes/releases", query={"all": 1}, as_user=None).json
    assert sc_id not in [sc["sc_id"] for sc in listed["scheduled_changes"]]


def test_a_signed_off_unlock_of_a_read_only_release_is_enacted(guarded: AdminClient) -> None:
    release = guarded.service.get_release(RELEASE)
    guarded.service.set_release_read_only(RELEASE, release.data_version, True, "alice")
    sc_id = schedule(guarded, read_only=False)
    signed = guarded.post(
        f"/scheduled_changes/releases/{sc_id}/signoffs", {"role": "relman"}, as_user="releng"
    )
    assert signed.status == 200, signed.text
    enacted = guarded.post(f"/scheduled_changes/releases/{sc_id}/enact")
    assert enacted.status == 200, enacted.text
    assert guarded.service.get_release(RELEASE).read_only is False


def test_a_modified_change_takes_the_new_blob(guarded: AdminClient) -> None:
    sc_id = schedule(guarded)
    blob = copy.deepcopy(guarded.service.get_release(RELEASE).blob)
    blob["displayVersion"] = "121.0 (modified)"
    modified = guarded.post(
        f"/scheduled_changes/releases/{sc_id}",
        {
            "when": WHEN + 1000,
            "name": RELEASE,
            "product": "Firefox",
            "data": json.dumps(blob),
            "data_version": guarded.service.get_release(RELEASE).data_version,
            "sc_data_version": 1,
        },
    )
    assert modified.status == 200, modified.text
    row = guarded.get(f"/scheduled_changes/releases/{sc_id}", as_user=None).json
    assert row["scheduled_change"]["data"]["displayVersion"] == "121.0 (modified)"
    guarded.post(
        f"/scheduled_changes/releases/{sc_id}/signoffs", {"role": "relman"}, as_user="releng"
    )
    assert guarded.post(f"/scheduled_changes/releases/{sc_id}/enact").status == 200
    assert guarded.service.get_release(RELEASE).blob["displayVersion"] == "121.0 (modified)"
