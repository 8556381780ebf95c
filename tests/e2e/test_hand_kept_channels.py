"""Hand-kept test channels end to end: the real ``rulelog serve public`` answers them as
Balrog does, the real CLI lists and derives them, and ``explain`` (CLI and admin API)
says which answered -- on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rulelog.domain.serving.evaluate import SnapshotView
from tests.conftest import Store
from tests.e2e.conftest import AdminClient
from tests.e2e.test_cli import ok, run
from tests.e2e.test_public_http import Server, public_server
from tests.hand_kept_support import DERIVED, HAND_KEPT, answer, hand_kept_snapshot, urls

SNAPSHOT = hand_kept_snapshot()
#: A switch is served by the running server within this bound (it follows the log).
SWITCH_DEADLINE = 10.0


@pytest.fixture(scope="module")
def loaded(module_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store holding the hand-kept snapshot, imported by the real CLI."""
    snapshot = tmp_path_factory.mktemp("hand-kept") / "snapshot.json"
    snapshot.write_text(json.dumps(SNAPSHOT))
    ok(module_store, "users", "add", "t", "--admin")
    ok(module_store, "import", str(snapshot), "--as", "t")
    return module_store


@pytest.fixture(scope="module")
def server(loaded: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("hand-kept-log") / "server.log"
    with public_server(loaded, log, workers=1) as running:
        yield running


def over_http(server: Server, url: str) -> tuple[int, str | None, str]:
    status, body, headers = server.fetch(url)
    return status, headers.get("Rule-ID"), body.decode()


def balrog(url: str) -> Any:
    return answer(url, SnapshotView.from_snapshot(SNAPSHOT))


def test_hand_kept_channels_are_served_as_balrog_serves_them(server: Server) -> None:
    differ = []
    for url in urls(HAND_KEPT):
        expected, got = balrog(url), over_http(server, url)
        if isinstance(expected, str):  # Balrog's 400: the status is what must agree
            expected = (400, got[1], got[2])
        if got != expected:
            differ.append(f"{url}: {got[:2]} != {expected[:2]}")
    assert not differ, "\n".join(differ)
    assert "Traceback" not in server.log_tail()


def test_the_cli_lists_derives_and_explains(server: Server, loaded: Store) -> None:
    listed = json.loads(ok(loaded, "channels", "list", "--json"))["test_channels"]
    rows = {r["channel"]: r for r in listed}
    for channel, rules in HAND_KEPT.items():
        assert rows[channel]["mode"] == "hand-kept" and rows[channel]["hand_kept_by"] == [*rules]
    for channel in DERIVED:
        assert rows[channel]["mode"] == "derived"
    table = ok(loaded, "channels", "list", "release")
    assert any(
        line.split()[:3] == ["release-cdntest", "release", "hand-kept"]
        for line in table.splitlines()
    )

    url = urls(["release-cdntest"])[4]  # Firefox 120: the exact hand-kept rule answers
    told = json.loads(ok(loaded, "explain", url, "--json"))
    assert told["answered_by"] == "hand-kept" and told["hand_kept_by"] == [80, 81]
    assert told["response"]["headers"]["Rule-ID"] == "80" == over_http(server, url)[1]
    assert "hand-kept by rules 80, 81" in ok(loaded, "explain", url)
    position = json.loads(ok(loaded, "events", "--json", "--limit", "1"))[-1]["position"]

    refused = run(loaded, "channels", "derive", "release-cdntest", "--as", "nobody")
    assert refused.returncode == 5 and len(refused.stderr.strip().splitlines()) == 1
    assert json.loads(ok(loaded, "events", "--json", "--limit", "1"))[-1]["position"] == position

    out = ok(loaded, "channels", "derive", "release-cdntest", "--as", "t")
    assert out.strip() == "release-cdntest is derived from release (rules retired: 80, 81)"
    # The running server follows the log: it serves the derived view shortly.
    twin = url.replace("/release-cdntest/", "/release-localtest/")
    deadline = time.monotonic() + SWITCH_DEADLINE
    while over_http(server, url)[1] == "80" and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition against a deadline
    assert over_http(server, url)[1] == over_http(server, twin)[1] != "80"

    now = json.loads(ok(loaded, "explain", url, "--json"))
    assert now["answered_by"] == "derived" and now["live_channel"] == "release"
    then = json.loads(ok(loaded, "explain", url, "--at", f"position:{position}", "--json"))
    assert then["answered_by"] == "hand-kept" and then["response"]["headers"]["Rule-ID"] == "80"
    past = json.loads(
        ok(loaded, "at", f"position:{position}", "rules", "--channel", "release-cdntest", "--json")
    )
    assert past["answered_by"] == "hand-kept"
    text = ok(loaded, "at", f"position:{position}", "rules", "--channel", "release-cdntest")
    assert "release-cdntest: hand-kept test channel of release" in text
    listed = json.loads(ok(loaded, "channels", "list", "--json"))["test_channels"]
    row = next(r for r in listed if r["channel"] == "release-cdntest")
    assert row == {
        "channel": "release-cdntest",
        "live_channel": "release",
        "mode": "derived",
        "mapped": True,
        "hand_kept_by": [],
    }
    again = run(loaded, "channels", "derive", "release-cdntest", "--as", "t")
    assert again.returncode == 4 and "already derived" in again.stderr


def test_the_admin_api_explain_says_which_answered(admin: AdminClient) -> None:
    admin.service.import_snapshot(hand_kept_snapshot(), changed_by="alice")
    for channel, mode, kept in (
        ("esr-localtest", "hand-kept", [82]),
        ("release-localtest", "derived", []),
        ("release", "live", []),
    ):
        url = urls([channel])[-1]  # Thunderbird
        got = admin.get("/timeline/explain", query={"url": url}, as_user=None)
        assert got.status == 200, got.text
        assert (got.json["answered_by"], got.json["hand_kept_by"]) == (mode, kept)
        rules = admin.get("/timeline/rules", query={"channel": channel}, as_user=None).json
        assert rules["answered_by"] == mode
    listed = admin.get("/timeline/test-channels", query={"live": "esr"}, as_user=None)
    assert listed.status == 200
    assert [(r["channel"], r["mode"], r["hand_kept_by"]) for r in listed.json["test_channels"]] == [
        ("esr-cdntest", "derived", []),
        ("esr-localtest", "hand-kept", [82]),
    ]
    bad = admin.get("/timeline/test-channels", query={"at": "soon"}, as_user=None)
    assert bad.status == 400 and "at" in bad.json["detail"]
