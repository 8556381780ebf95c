"""The web console in a real Chromium, over real HTTP: a release manager's day.

The admin server of the other e2e tests (``conftest.AdminServer``: uvicorn on
a socket) serves a fresh store (SQLite, then PostgreSQL) holding the demo
data, a signoff policy on Firefox's release channel (one ``relman``), and
three people: ``alice`` (admin), ``rm`` (Firefox rules, and the ``relman``
role) and ``viewer`` (a token, no permission). Each person is their own
browser session. Screenshots of the main pages are saved under
``RULELOG_SCREENSHOTS`` (default: a temporary folder, printed);
``docs/console/`` holds a few of them.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import pytest

from rulelog.services.agent import Agent
from rulelog.services.application import RulelogApp
from tests.conftest import new_store
from tests.e2e.browser_support import Browser, require_browser
from tests.e2e.conftest import AdminServer

DEMO_URL = (
    "/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/en-US/release/"
    "Windows_NT%2010.0/ISET:SSE4_2,MEM:16384/default/default/update.xml"
)
POLICY = {"product": "Firefox", "channel": "release", "signoffs_required": 1, "role": "relman"}


@dataclass
class Console:
    base: str
    port: int
    service: RulelogApp
    tokens: dict[str, str]
    screenshots: Path

    def browser(self, user: str | None = None) -> Browser:
        browser = Browser(self.base, self.screenshots)
        if user is not None:
            browser.sign_in(self.tokens[user])
        return browser

    def position(self) -> int:
        return self.service.recorder.max_notification_id() or 0


@pytest.fixture
def console(
    admin_server: AdminServer, tmp_path_factory: pytest.TempPathFactory, store_kind: str
) -> Iterator[Console]:
    """The console over a store of each kind (SQLite, and PostgreSQL as production runs it)."""
    require_browser()
    shots = Path(os.environ.get("RULELOG_SCREENSHOTS") or tmp_path_factory.mktemp("console"))
    shots.mkdir(parents=True, exist_ok=True)
    with new_store(store_kind) as store:
        service = store.open_with_admins()
        demo = resources.files("rulelog.api").joinpath("demo_snapshot.json").read_text()
        service.import_snapshot(json.loads(demo), changed_by="importer")
        service.grant_permission("rm", "rule", {"products": ["Firefox"]}, changed_by="alice")
        service.grant_role("rm", "relman", changed_by="alice")
        service.add_required_signoff("product", POLICY, changed_by="alice")
        tokens = {u: service.issue_token(u, "browser tests")[1] for u in ("alice", "rm", "viewer")}
        admin_server.use(service)
        port = admin_server.port
        yield Console(f"http://127.0.0.1:{port}", port, service, tokens, shots)
    print(f"console screenshots: {shots}")


def _cell(browser: Browser, row: str, column: str) -> str:
    return browser.text(f'{row} td[data-column="{column}"]')


def test_a_release_managers_day(console: Console) -> None:
    alice = console.browser("alice")
    rm = None
    try:
        # Sign in (above), then filter the rules table (htmx swaps it in place; the URL follows).
        assert alice.driver.current_url.endswith("/ui/rules")
        assert "alice" in alice.text("#signed-in-as")
        alice.shoot("rules")
        from selenium.webdriver.support.ui import Select

        Select(alice.find("#filter-channel")).select_by_visible_text("nightly")
        alice.wait(lambda d: "channel=nightly" in d.current_url, "the filter in the URL")
        alice.wait(
            lambda d: {_cell(alice, f"#{r.get_attribute('id')}", "channel") for r in
                       alice.all("#rules-table tbody tr[id^=rule-]")} == {"nightly"},
            "only nightly rules",
        )  # fmt: skip
        alice.no_console_errors()

        # Edit a rule directly: no policy covers nightly.
        alice.open("/ui/rules/30")
        alice.fill("#f-comment", "edited in the browser")
        alice.submit("#save-direct")
        assert alice.all("#saved")
        assert alice.find("#f-comment").get_attribute("value") == "edited in the browser"

        # Schedule a change on release, which the policy covers: the form says so first.
        alice.open("/ui/rules/1")
        assert "relman" in alice.text("#needs-signoffs")
        assert not alice.all("#save-direct")
        before = console.position()
        alice.fill("#f-backgroundRate", "100")
        alice.submit("#save-scheduled")
        assert alice.all("#scheduled")
        assert "backgroundRate" in alice.text("#rule-pending")
        alice.shoot("rule")

        # Live against test: the pending change is highlighted on the test side.
        alice.open("/ui/channels/release-localtest")
        assert "derived" in alice.text("#channel-mode")
        assert "changed" in alice.find("#test-rule-1").get_attribute("class")
        assert _cell(alice, "#test-rule-1", "backgroundRate") == "100"
        assert _cell(alice, "#live-rule-1", "backgroundRate") == "50"
        changed = alice.find('#test-rule-1 td[data-column="backgroundRate"]')
        assert "changed" in changed.get_attribute("class")
        alice.driver.execute_script(
            "document.getElementById('test-rule-1').scrollIntoView({block: 'center'})"
        )
        alice.shoot("live-vs-test")

        # A second person, in a second browser session, signs it off with their role.
        rm = console.browser("rm")
        rm.open("/ui/scheduled")
        assert "waiting for signoffs" in rm.text("#sc-rules-1 .status")
        rm.submit("#sc-rules-1 button.signoff")
        assert "waiting for signoffs" not in rm.text("#sc-rules-1 .status")
        assert "rm (relman)" in rm.text("#sc-rules-1 .signoffs")
        rm.shoot("scheduled")

        # The agent enacts it once due; it is live, and in the history.
        later = console.service.now() + timedelta(hours=1)
        Agent(console.service, "alice").run_pass(now=later)
        alice.open("/ui/rules")
        assert _cell(alice, "#rule-1", "backgroundRate") == "100"
        alice.open("/ui/history")
        rows = [r.text for r in alice.all('#history-table tr[data-what="rules/1"]')]
        assert any("enacted" in text for text in rows), rows
        alice.shoot("history")
        Select(alice.find("#h-kind")).select_by_visible_text("rule")  # filtered in place
        alice.find("#history-filter").click()
        alice.wait(lambda d: "kind=rule" in d.current_url, "the history filter in the URL")
        alice.wait(
            lambda d: (
                {r.get_attribute("data-kind") for r in alice.all("#history-table tbody tr")}
                == {"rule"}
            ),
            "only rule events",
        )
        alice.no_console_errors()

        # The time control, moved to before the change, shows the old values, read-only.
        alice.open("/ui/rules/1")
        from selenium.webdriver.common.keys import Keys

        # From the keyboard: arrows move the control, then the Go button loads the position.
        alice.find("#time-range").send_keys(Keys.HOME + Keys.ARROW_RIGHT * before)
        assert alice.text("#time-output") == f"position {before}"
        alice.driver.switch_to.active_element.send_keys(Keys.TAB)
        alice.driver.switch_to.active_element.send_keys(Keys.ENTER)
        alice.wait(lambda d: f"at=position%3A{before}" in d.current_url, "the moved time control")
        alice.wait_for("#past-banner")
        alice.no_console_errors()
        assert f"position {before}" in alice.text("#past-banner")
        assert _cell(alice, "#rule-fields", "backgroundRate") == "50"
        assert not alice.all("#rule-form")
        alice.find("#back-to-now").click()
        alice.wait(lambda d: "at=" not in d.current_url, "back to now")

        # Explain a URL at that past time (and now, for comparison).
        alice.open("/ui/explain?" + urlencode({"at": f"position:{before}"}))
        alice.fill("#x-url", DEMO_URL)
        alice.submit("#explain")
        answers = alice.all("section.answer")
        assert len(answers) == 2
        assert f"position {before}" in answers[0].text
        assert "chosen" in answers[0].text
        alice.shoot("explain")
    finally:
        alice.quit()
        if rm is not None:
            rm.quit()


def _post(console: Console, path: str, form: dict[str, str], cookies: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies}
        conn.request("POST", path, body=urlencode(form), headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_reader_sees_no_edit_controls_and_a_forged_post_is_refused(console: Console) -> None:
    viewer = console.browser("viewer")
    try:
        viewer.open("/ui/rules/30")
        assert not viewer.all("#rule-form")
        assert not viewer.all("#save-direct") and not viewer.all("#save-scheduled")
        assert _cell(viewer, "#rule-fields", "channel") == "nightly"
        console.service.schedule_change(
            "rules", "update", {"rule_id": 30, "priority": 7}, {"when": "2099-01-01T00:00:00Z"},
            "alice", 1,
        )  # fmt: skip
        viewer.open("/ui/scheduled")
        assert viewer.all("#sc-rules-1")
        assert not viewer.all("button.enact") and not viewer.all("button.signoff")
    finally:
        viewer.quit()

    # Alice's session cookie, sent by another site's form: no CSRF token, so refused.
    data_version = console.service.get_rule(30).data_version
    cookie = f"rulelog_token={console.tokens['alice']}; rulelog_csrf=known-to-the-browser"
    forged = {"data_version": str(data_version), "comment": "forged", "mode": "direct"}
    assert _post(console, "/ui/rules/30", forged, cookie) == 403
    assert _post(console, "/ui/rules/30", {**forged, "csrf": "guessed"}, cookie) == 403
    assert console.service.get_rule(30).data_version == data_version
    # The same form with the page's token is accepted: the refusal was the CSRF check.
    assert _post(console, "/ui/rules/30", {**forged, "csrf": "known-to-the-browser"}, cookie) == 303


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another site's page whose form posts to the console as soon as it loads."""

    target = ""
    #: The rule's current data_version: the form is otherwise a valid edit.
    data_version = 0

    def do_GET(self) -> None:
        body = (
            "<!doctype html><title>win a prize</title>"
            f'<form id="f" method="post" action="{self.target}">'
            f'<input type="hidden" name="data_version" value="{self.data_version}">'
            '<input type="hidden" name="comment" value="forged">'
            '<input type="hidden" name="mode" value="direct">'
            '<input type="hidden" name="priority" value="1">'
            "</form><script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the outcome from the store."""


@pytest.mark.parametrize(
    "attacker_host",
    [
        # Another site: the SameSite=Strict cookies are not sent, so nobody is signed in.
        "localhost",
        # The same site on another port: the cookies are sent, the form has no CSRF token.
        "127.0.0.1",
    ],
)
def test_a_cross_site_form_in_the_browser_changes_nothing(
    console: Console, attacker_host: str
) -> None:
    before = console.service.get_rule(30)
    target = {"target": f"{console.base}/ui/rules/30", "data_version": before.data_version}
    handler = type("Attacker", (_AttackerPage,), target)
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=attacker.serve_forever, daemon=True)
    serving.start()
    alice = console.browser("alice")
    position = console.position()
    try:
        alice.driver.get(f"http://{attacker_host}:{attacker.server_address[1]}/")
        # The forged form lands on the console, which refuses it.
        alice.wait(lambda d: d.current_url.startswith(console.base), "the forged post's answer")
        alice.wait(lambda d: d.execute_script("return document.readyState") == "complete", "load")
        after = console.service.get_rule(30)
        assert (after.data_version, after.fields) == (before.data_version, before.fields)
        assert console.position() == position  # nothing at all was written
        alice.driver.get_log("browser")  # the refusal's own load error is the expected one
        # Alice is still signed in, and her own edits still work from the console.
        alice.open("/ui/rules/30")
        assert alice.all("#rule-form")
    finally:
        alice.quit()
        attacker.shutdown()
        attacker.server_close()
    # Control: the forged fields with a CSRF token are a valid edit, so what refused
    # them above was the cross-site protection, not the form.
    form = {"data_version": str(before.data_version), "comment": "forged", "mode": "direct"}
    cookie = f"rulelog_token={console.tokens['alice']}; rulelog_csrf=t"
    assert _post(console, "/ui/rules/30", {**form, "priority": "1", "csrf": "t"}, cookie) == 303
