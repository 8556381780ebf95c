"""``/api/expectations`` over real HTTP: CRUD, check (now and at T), a signoff refused
while a change makes one fail on its test view, and its override."""

from __future__ import annotations

import http.client
import re
from typing import Any

from tests.conftest import DATA
from tests.e2e.conftest import AdminClient

URL = (
    "/update/6/Firefox/119.0/20231120000000/Linux_x86_64-gcc3/de/release/"
    "Linux/default/default/default/update.xml"
)
SPEC = {"name": "de-121", "url": URL, "expect": {"release": "Firefox-121.0-build1"}}


def _seeded(admin: AdminClient) -> None:
    import json

    service = admin.service
    service.import_snapshot(json.loads((DATA / "fixture.json").read_text()), changed_by="alice")
    service.grant_permission("rm", "rule", {"products": ["Firefox"]}, changed_by="alice")
    service.grant_role("rm", "relman", changed_by="alice")
    policy = {"product": "Firefox", "channel": "release", "signoffs_required": 1}
    service.add_required_signoff("product", {**policy, "role": "relman"}, changed_by="alice")


def test_crud_and_check(admin: AdminClient) -> None:
    _seeded(admin)
    made = admin.post("/expectations", SPEC)
    assert (made.status, made.json) == (201, {"name": "de-121", "data_version": 1}), made.text
    again = admin.post("/expectations", SPEC)
    assert again.status == 400 and "already exists" in again.text
    bad = admin.post("/expectations", {**SPEC, "name": "x", "expect": {"nothing": 1}})
    assert bad.status == 400 and "expect" in bad.text
    anonymous = admin.post("/expectations", SPEC, as_user=None)
    assert anonymous.status == 401
    listed: Any = admin.get("/expectations", as_user=None).json
    assert [e["name"] for e in listed] == ["de-121"] and listed[0]["product"] == "Firefox"
    checked = admin.get("/expectations/check", query={"channel": "release"}, as_user=None).json
    assert checked["summary"] == {"checked": 1, "failing_live": 0, "failing_test": 0}
    position = admin.event_count()
    changed = admin.put("/expectations/de-121", {"url": URL, "expect": {"no_update": True}})
    assert changed.json == {"name": "de-121", "data_version": 2}
    shown = admin.get("/expectations/de-121", as_user=None).json
    assert shown["result"]["live"]["passed"] is False
    past = admin.get("/expectations/de-121", query={"at": f"position:{position}"}).json
    assert past["expect"] == {"release": "Firefox-121.0-build1"}
    assert past["result"]["live"]["passed"] is True
    assert admin.delete("/expectations/de-121", query={"reason": "done"}).status == 200
    assert admin.get("/expectations/de-121").status == 404
    assert admin.delete("/expectations/de-121").status == 404


def test_signoff_refused_then_overridden(admin: AdminClient) -> None:
    _seeded(admin)
    admin.post("/expectations", SPEC)
    sc = admin.service.schedule_change(
        "rules",
        "update",
        {"rule_id": 1, "mapping": "Firefox-120.0-build1"},
        {"when": "2099-01-01T00:00:00+00:00"},
        changed_by="alice",
        data_version=1,
    )
    checked = admin.get("/expectations/check", as_user=None).json
    [result] = checked["results"]
    assert result["test"]["responsible"] == [{"kind": "rules", "sc_id": sc.sc_id}]
    path = f"/scheduled_changes/rules/{sc.sc_id}/signoffs"
    refused = admin.post(path, {"role": "relman"}, as_user="rm")
    assert refused.status == 400, refused.text  # Balrog answers every conflict 400
    assert "de-121" in refused.text and "Firefox-120.0-build1" in refused.text
    assert admin.service.get_scheduled_change("rules", sc.sc_id).signoffs == {}
    given = admin.post(path, {"role": "relman", "override_reason": "hold"}, as_user="rm")
    assert given.status == 200, given.text
    signed = admin.service.get_scheduled_change("rules", sc.sc_id)
    assert signed.expectation_overrides == [
        {"username": "rm", "reason": "hold", "failures": ["de-121"]}
    ]


def _seeded_with_a_breaking_change(admin: AdminClient) -> int:
    """The expectation, and a pending change of rule 1 that makes it fail: its sc_id."""
    _seeded(admin)
    admin.service.add_expectation(SPEC, "alice")
    return admin.service.schedule_change(
        "rules", "update", {"rule_id": 1, "mapping": "Firefox-120.0-build1"},
        {"when": "2099-01-01T00:00:00+00:00"}, "alice",
        data_version=admin.service.get_rule(1).data_version,
    ).sc_id  # fmt: skip


def test_scheduled_change_listings_name_failing_expectations_on_request(
    admin: AdminClient,
) -> None:
    breaking = _seeded_with_a_breaking_change(admin)
    plain = admin.get("/scheduled_changes/rules", as_user=None).json["scheduled_changes"]
    assert "expectations_failing" not in plain[0]  # Balrog's answer, unchanged
    listed = admin.get("/scheduled_changes/rules", query={"expectations": 1}, as_user=None)
    [row] = listed.json["scheduled_changes"]
    assert row["sc_id"] == breaking and row["expectations_failing"] == ["de-121"]


def _failing_live_count(admin: AdminClient) -> float:
    """The counter as scraped: the admin server runs in this process (one registry)."""
    conn = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    found = re.search(r"^rulelog_expectations_failing_live_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_an_enactment_by_hand_is_followed_by_a_live_check(admin: AdminClient) -> None:
    sc_id = _seeded_with_a_breaking_change(admin)
    signed = admin.post(
        f"/scheduled_changes/rules/{sc_id}/signoffs",
        {"role": "relman", "override_reason": "120 for everyone, knowingly"},
        as_user="rm",
    )
    assert signed.status == 200, signed.text
    before = _failing_live_count(admin)
    enacted = admin.post(f"/scheduled_changes/rules/{sc_id}/enact")
    assert enacted.status == 200, enacted.text
    assert _failing_live_count(admin) == before + 1
