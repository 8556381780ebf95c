"""The console's pages over HTTP (no browser): every page, sign-in, CSRF, errors as pages.

The admin server of the other e2e tests, on a store with the demo data.
Requests carry ``Authorization: Bearer`` where a test acts as someone (the
console accepts it as scripts send it) or the sign-in cookie.
"""

from __future__ import annotations

import http.client
import json
import re
from importlib import resources
from urllib.parse import urlencode

import pytest

from rulelog.services.impact import record_sample
from tests.e2e.conftest import AdminClient, Answer
from tests.integration.test_impact import SAMPLE, german_rule
from tests.integration.test_impact import target as update_target

PAGES = [
    "/ui/rules",
    "/ui/rules?product=Firefox&channel=release",
    "/ui/rules/1",
    "/ui/releases",
    "/ui/releases?q=121",
    "/ui/releases/Firefox-121.0-build1",
    "/ui/releases/Firefox-121.0-build1?platform=WINNT_x86_64-msvc-x64&locale=en-US",
    "/ui/scheduled",
    "/ui/scheduled?ended=1",
    "/ui/history",
    "/ui/history?by=demo&kind=rule",
    "/ui/channels",
    "/ui/channels/release-localtest",
    "/ui/explain",
    "/ui/shutoffs",
    "/ui/signoffs",
    "/ui/channel-maps",
    "/ui/signin",
]


@pytest.fixture
def demo(admin: AdminClient) -> AdminClient:
    snapshot = resources.files("rulelog.api").joinpath("demo_snapshot.json").read_text()
    admin.service.import_snapshot(json.loads(snapshot), changed_by="importer")
    return admin


def _ui(
    client: AdminClient,
    method: str,
    target: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
    try:
        sent = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, target, body=body, headers=sent)
        response = conn.getresponse()
        return Answer(response.status, response.read(), response.headers)
    finally:
        conn.close()


def _bearer(client: AdminClient, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token_for(user)}"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_answers_now_and_in_the_past_with_its_own_policy(
    demo: AdminClient, page: str
) -> None:
    for target in (page, page + ("&" if "?" in page else "?") + "at=position:30"):
        answer = _ui(demo, "GET", target)
        assert answer.status == 200, (target, answer.text[:500])
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert answer.headers.get_all("Content-Security-Policy") == [policy]
        if "at=" in target and page != "/ui/signin":
            assert "Read-only: as of" in answer.text


def test_explain_from_a_pasted_url_or_from_its_fields(demo: AdminClient) -> None:
    url = "/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/release/" \
          "Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/default/update.xml"  # fmt: skip
    fields = {"product": "Firefox", "version": "120.0", "buildID": "20231116134553",
              "buildTarget": "WINNT_x86_64-msvc-x64", "locale": "en-US", "channel": "release",
              "osVersion": "Windows_NT 10.0", "systemCapabilities": "ISET:SSE4_2,MEM:16384",
              "test": "release-localtest"}  # fmt: skip
    pasted = _ui(demo, "GET", "/ui/explain?" + urlencode({"url": url, "at": "position:40"}))
    built = _ui(demo, "GET", "/ui/explain?" + urlencode(fields))
    assert pasted.status == built.status == 200
    assert pasted.text.count('class="answer"') == 2  # as of position 40, and now
    assert built.text.count('class="answer"') == 2  # now, and on the test channel
    assert "release-answer" in built.text
    bad = _ui(demo, "GET", "/ui/explain?" + urlencode({"url": "/nothing"}))
    assert bad.status == 400 and "not an update request" in bad.text


def test_a_bad_time_and_an_unknown_rule_are_pages_with_4xx(demo: AdminClient) -> None:
    bad = _ui(demo, "GET", "/ui/rules?at=yesterday")
    assert bad.status == 400 and 'id="error-message"' in bad.text
    missing = _ui(demo, "GET", "/ui/rules/999")
    assert missing.status == 404 and "Rule 999 does not exist" in missing.text
    assert _ui(demo, "GET", "/ui/rules/notanumber").status in (400, 404)


def test_users_need_permission_view(demo: AdminClient) -> None:
    assert _ui(demo, "GET", "/ui/users").status == 401
    assert _ui(demo, "GET", "/ui/users", headers=_bearer(demo, "bob")).status == 403
    shown = _ui(demo, "GET", "/ui/users", headers=_bearer(demo, "alice"))
    assert shown.status == 200 and "alice" in shown.text


def _signed_in(client: AdminClient, user: str) -> tuple[str, str]:
    """Sign in through the form: (the Cookie header to send, the page's CSRF token)."""
    page = _ui(client, "GET", "/ui/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    cookie = f"rulelog_csrf={csrf.group(1)}"
    form = {"csrf": csrf.group(1), "token": client.token_for(user), "next": "/ui/rules/30"}
    signed = _ui(client, "POST", "/ui/signin", form=form, headers={"Cookie": cookie})
    assert signed.status == 303 and signed.headers["Location"] == "/ui/rules/30"
    set_cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/ui" in set_cookie
    token = re.search(r"rulelog_token=([^;]+)", set_cookie)
    assert token is not None
    return f"{cookie}; rulelog_token={token.group(1)}", csrf.group(1)


def test_sign_in_edit_and_refusals_read_as_pages(demo: AdminClient) -> None:
    cookie, csrf = _signed_in(demo, "alice")
    page = _ui(demo, "GET", "/ui/rules/30", headers={"Cookie": cookie})
    assert "Signed in as <strong>alice" in page.text and 'id="save-direct"' in page.text
    edit = {"csrf": csrf, "data_version": "1", "comment": "from a form", "mode": "direct"}
    saved = _ui(demo, "POST", "/ui/rules/30", form=edit, headers={"Cookie": cookie})
    assert saved.status == 303
    assert demo.service.get_rule(30).fields["comment"] == "from a form"
    stale = _ui(demo, "POST", "/ui/rules/30", form=edit, headers={"Cookie": cookie})
    assert stale.status in (400, 409) and 'id="error-message"' in stale.text
    wrong = _ui(demo, "POST", "/ui/rules/30", form={**edit, "priority": "high"},
                headers={"Cookie": cookie})  # fmt: skip
    assert wrong.status == 400 and "priority" in wrong.text
    bad_token = _ui(demo, "POST", "/ui/signin", form={"csrf": csrf, "token": "nope"},
                    headers={"Cookie": cookie.split(";")[0]})  # fmt: skip
    assert bad_token.status == 401 and "not accepted" in bad_token.text


def test_forms_need_the_csrf_token_unless_a_script_sends_its_own_header(
    demo: AdminClient,
) -> None:
    cookie, csrf = _signed_in(demo, "alice")
    edit = {"data_version": "1", "comment": "forged", "mode": "direct"}
    forged = _ui(demo, "POST", "/ui/rules/30", form=edit, headers={"Cookie": cookie})
    assert forged.status == 403 and "CSRF" in forged.text
    assert demo.service.get_rule(30).data_version == 1
    scripted = _ui(demo, "POST", "/ui/rules/30", form=edit, headers=_bearer(demo, "alice"))
    assert scripted.status == 303
    nobody = _ui(demo, "POST", "/ui/rules/30", form={**edit, "csrf": csrf},
                 headers={"Cookie": cookie.split(";")[0]})  # fmt: skip
    assert nobody.status == 401


def test_a_user_without_rights_is_refused_by_the_command(demo: AdminClient) -> None:
    edit = {"data_version": "1", "comment": "bob was here", "mode": "direct"}
    page = _ui(demo, "GET", "/ui/rules/30", headers=_bearer(demo, "bob"))
    assert 'id="rule-form"' not in page.text
    refused = _ui(demo, "POST", "/ui/rules/30", form=edit, headers=_bearer(demo, "bob"))
    assert refused.status == 403 and 'id="error-message"' in refused.text


def test_static_files_and_the_api_docs(demo: AdminClient) -> None:
    htmx = _ui(demo, "GET", "/ui/static/htmx.min.js")
    assert htmx.status == 200 and b"htmx" in htmx.body[:200]
    docs = _ui(demo, "GET", "/api/docs")
    assert docs.status == 200 and "/api/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert docs.headers.get_all("Content-Security-Policy") == [
        docs.headers["Content-Security-Policy"]
    ]
    api = _ui(demo, "GET", "/api/rules")  # the API keeps its own, strictest policy
    assert api.headers.get_all("Content-Security-Policy") == [
        "default-src 'none'; frame-ancestors 'none'"
    ]
    bundle = _ui(demo, "GET", "/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status == 200 and len(bundle.body) > 100_000


def test_add_duplicate_and_delete_a_rule(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    copy = _ui(demo, "GET", "/ui/rules/new?copy=30", headers=alice)
    assert copy.status == 200 and 'value="nightly"' in copy.text
    assert _ui(demo, "GET", "/ui/rules/new?at=position:3", headers=alice).status == 400
    new = {"product": "Firefox", "channel": "nightly", "priority": "3", "backgroundRate": "100",
           "update_type": "minor", "mapping": "Firefox-121.0-build1", "mode": "direct"}  # fmt: skip
    added = _ui(demo, "POST", "/ui/rules", form=new, headers=alice)
    assert added.status == 303
    rule_id = int(added.headers["Location"].split("/")[-1].split("?")[0])
    assert demo.service.get_rule(rule_id).fields["priority"] == 3
    gone = _ui(demo, "POST", f"/ui/rules/{rule_id}/delete", form={"data_version": "1"},
               headers=alice)  # fmt: skip
    assert gone.status == 303
    assert _ui(demo, "GET", f"/ui/rules/{rule_id}").status == 404


def test_shutoffs_are_added_and_lifted(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    page = _ui(demo, "GET", "/ui/shutoffs", headers=alice)
    assert 'id="shutoff-form"' in page.text and "shutoff-Thunderbird-beta" in page.text
    shutoff = {"product": "Firefox", "channel": "aurora", "comment": "bad build"}
    added = _ui(demo, "POST", "/ui/shutoffs", headers=alice, form=shutoff)
    assert added.status == 303
    assert demo.service.get_shutoff("Firefox", "aurora").data_version == 1
    lifted = _ui(demo, "POST", "/ui/shutoffs/Firefox/aurora/delete", headers=alice,
                 form={"data_version": "1", "mode": "direct"})  # fmt: skip
    assert lifted.status == 303
    assert "shutoff-Firefox-aurora" not in _ui(demo, "GET", "/ui/shutoffs").text


def test_a_release_is_locked_and_its_revisions_compared(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    name = "Firefox-121.0-build1"
    page = _ui(demo, "GET", f"/ui/releases/{name}", headers=alice)
    assert 'id="toggle-read-only"' in page.text
    locked = _ui(demo, "POST", f"/ui/releases/{name}/read_only", headers=alice,
                 form={"data_version": "1", "read_only": "1"})  # fmt: skip
    assert locked.status == 303 and demo.service.get_release(name).read_only
    revisions = [int(c) for c in re.findall(r'name="to" value="(\d+)"', _ui(
        demo, "GET", f"/ui/releases/{name}").text)]  # fmt: skip
    assert len(revisions) == 2
    first, to = sorted(revisions)
    compared = _ui(demo, "GET", f"/ui/releases/{name}?from={first}&to={to}")
    assert compared.status == 200 and "The blobs are the same." in compared.text


def test_permissions_and_roles_are_granted_and_revoked(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    assert 'id="grant-form"' in _ui(demo, "GET", "/ui/users", headers=alice).text
    grants = [
        {"username": "carol", "permission": "rule", "options": '{"products": ["Firefox"]}'},
        {"username": "carol", "role": "relman"},
    ]
    for form in grants:
        assert _ui(demo, "POST", "/ui/users/grant", headers=alice, form=form).status == 303
    carol = demo.service.get_user("carol")
    assert "relman" in carol.roles and "rule" in carol.permissions
    bad = _ui(demo, "POST", "/ui/users/grant", headers=alice,
              form={"username": "dave", "permission": "rule", "options": "{"})  # fmt: skip
    assert bad.status == 400 and "options: not JSON" in bad.text
    revoked = _ui(demo, "POST", "/ui/users/carol/revoke", headers=alice, form={"role": "relman"})
    assert revoked.status == 303 and "relman" not in demo.service.get_user("carol").roles


def test_policies_are_added_and_their_removal_scheduled_and_channels_mapped(
    demo: AdminClient,
) -> None:
    alice = _bearer(demo, "alice")
    demo.service.grant_permission("rm", "rule", {"products": ["Firefox"]}, "alice")
    demo.service.grant_role("rm", "relman", "alice")
    policy = {"kind": "product", "product": "Firefox", "channel": "beta", "role": "relman",
              "signoffs_required": "1"}  # fmt: skip
    assert _ui(demo, "POST", "/ui/signoffs", headers=alice, form=policy).status == 303
    page = _ui(demo, "GET", "/ui/signoffs", headers=alice).text
    assert "Schedule removal" in page and "beta" in page
    removal = {**policy, "data_version": "1", "when": "2099-01-01T00:00:00Z"}
    scheduled = _ui(demo, "POST", "/ui/signoffs/remove", headers=alice, form=removal)
    assert scheduled.status == 303 and "required_signoffs/product" in scheduled.headers["Location"]
    mapped = _ui(demo, "POST", "/ui/channel-maps", headers=alice,
                 form={"test": "release-qa", "live": "release"})  # fmt: skip
    assert mapped.status == 303
    assert "release-qa" in _ui(demo, "GET", "/ui/channel-maps").text
    unmapped = _ui(demo, "POST", "/ui/channel-maps/release-qa/remove", headers=alice, form={})
    assert unmapped.status == 303
    assert "release-qa" not in _ui(demo, "GET", "/ui/channel-maps").text


def test_a_rule_change_is_scheduled_on_uptake(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    form = {"data_version": "1", "backgroundRate": "25", "mode": "schedule",
            "telemetry_uptake": "40", "telemetry_product": "Firefox",
            "telemetry_channel": "nightly"}  # fmt: skip
    scheduled = _ui(demo, "POST", "/ui/rules/30", form=form, headers=alice)
    assert scheduled.status == 303 and "scheduled=" in scheduled.headers["Location"]
    page = _ui(demo, "GET", "/ui/scheduled").text
    assert "at 40.0% uptake of Firefox/nightly" in page


def test_a_revision_is_loaded_into_the_form_to_revert(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    first = demo.service.get_rule(30).fields.get("comment")
    form = {"data_version": "1", "comment": "second thoughts", "mode": "direct"}
    assert _ui(demo, "POST", "/ui/rules/30", form=form, headers=alice).status == 303
    page = _ui(demo, "GET", "/ui/rules/30", headers=alice).text
    oldest = min(int(c) for c in re.findall(r"revision=(\d+)", page))
    loaded = _ui(demo, "GET", f"/ui/rules/30?revision={oldest}", headers=alice).text
    assert f"reverting to revision {oldest}" in loaded
    assert f'id="f-comment" name="comment" value="{first or ""}"' in loaded
    assert _ui(demo, "GET", "/ui/rules/30?revision=1", headers=alice).status == 404


def test_a_scheduled_new_rule_is_listed_above_the_table(demo: AdminClient) -> None:
    new = {"product": "Firefox", "channel": "nightly", "priority": "4", "backgroundRate": "100",
           "update_type": "minor", "mapping": "Firefox-121.0-build1", "mode": "schedule",
           "when": "2099-01-01T00:00:00Z"}  # fmt: skip
    assert _ui(demo, "POST", "/ui/rules", form=new, headers=_bearer(demo, "alice")).status == 303
    page = _ui(demo, "GET", "/ui/rules").text
    assert 'id="pending-new-rules"' in page and "a new rule" in page


def test_a_scheduled_rule_change_is_modified(demo: AdminClient) -> None:
    alice = _bearer(demo, "alice")
    form = {"data_version": "1", "backgroundRate": "25", "mode": "schedule",
            "when": "2099-01-01T00:00:00Z"}  # fmt: skip
    assert _ui(demo, "POST", "/ui/rules/30", form=form, headers=alice).status == 303
    page = _ui(demo, "GET", "/ui/scheduled/rules/1", headers=alice)
    assert page.status == 200 and 'id="save-sc"' in page.text and 'value="25"' in page.text
    sc = demo.service.get_scheduled_change("rules", 1)
    changed = {**{k: str(v) for k, v in sc.row.items() if v is not None}, "backgroundRate": "30",
               "data_version": str(sc.data_version), "when": "2099-02-01T00:00:00Z"}  # fmt: skip
    saved = _ui(demo, "POST", "/ui/scheduled/rules/1", form=changed, headers=alice)
    assert saved.status == 303
    modified = demo.service.get_scheduled_change("rules", 1)
    assert modified.row["backgroundRate"] == 30 and modified.when.year == 2099
    assert _ui(demo, "GET", "/ui/scheduled/rules/99").status == 404


def test_a_hand_kept_test_channel_is_derived(admin: AdminClient) -> None:
    from tests.hand_kept_support import hand_kept_snapshot

    admin.service.import_snapshot(hand_kept_snapshot(), changed_by="importer")
    alice = _bearer(admin, "alice")
    page = _ui(admin, "GET", "/ui/channels/esr-localtest", headers=alice)
    assert page.status == 200 and "hand-kept" in page.text and 'id="derive"' in page.text
    derived = _ui(admin, "POST", "/ui/channels/esr-localtest/derive", headers=alice, form={})
    assert derived.status == 303
    after = _ui(admin, "GET", "/ui/channels/esr-localtest").text
    assert "<strong>derived</strong>" in after and 'id="derive"' not in after


def test_at_takes_an_iso_time_epoch_milliseconds_or_a_position(demo: AdminClient) -> None:
    now = demo.service.now()
    for at in (now.isoformat(), str(int(now.timestamp() * 1000)), "position:12"):
        page = _ui(demo, "GET", "/ui/rules?" + urlencode({"at": at}))
        assert page.status == 200 and "Read-only: as of" in page.text, at
        assert 'id="time-range"' in page.text
    later = _ui(demo, "GET", "/ui/rules?" + urlencode({"at": "position:999999"}))
    assert later.status == 400 and "beyond the log" in later.text
    assert "position 7 of" in _ui(demo, "GET", "/ui/rules?pos=7").text  # the no-JS control


def test_a_change_page_shows_what_it_would_move_and_what_it_breaks(
    admin: AdminClient, fixture_snapshot: dict
) -> None:
    """Expectation status beside each scheduled change; the impact on the change page."""
    admin.service.import_snapshot(fixture_snapshot, "importer")
    record_sample(admin.service, SAMPLE, keep=1000)
    expect = {"release": "Firefox-121.0-build1"}
    spec = {"name": "de-gets-121", "url": update_target("de"), "expect": expect}
    admin.service.add_expectation(spec, "alice")
    french = {**spec, "name": "fr-gets-121", "url": update_target("fr")}
    admin.service.add_expectation(french, "alice")
    sc = admin.service.schedule_change(
        "rules", "insert", german_rule(), {"when": "2099-01-01T00:00:00+00:00"}, "alice"
    )
    listed = _ui(admin, "GET", "/ui/scheduled", headers=_bearer(admin, "alice")).text
    assert "Expectations failing on the test view: de-gets-121" in listed
    assert "fr-gets-121" not in listed
    change = _ui(admin, "GET", f"/ui/scheduled/rules/{sc.sc_id}", headers=_bearer(admin, "alice"))
    assert change.status == 200
    assert re.search(r"Of 32 sampled update requests, <strong>5</strong> would get", change.text)
    assert "Firefox-121.0-build1</td><td>Firefox-120.0-build1</td><td>5</td>" in change.text
