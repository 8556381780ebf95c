"""The real ``rulelog serve admin`` and ``rulelog tokens``, as an operator runs them.

A server process per store; tokens are issued and revoked with the real CLI
while it runs, and release automation drives it over HTTP the way
balrogscript drives Balrog.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, Store
from tests.e2e.processes import (
    one_server_per_store,  # noqa: F401 (the store fixture)
    serving,
    tail,
    wait_ready,
)
from tests.e2e.test_cli import ok as cli_ok
from tests.e2e.test_cli import run as cli


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode()

    def log_tail(self) -> str:
        return tail(self.log)


@pytest.fixture(scope="module")
def served(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cli_ok(store, "users", "add", "ops@example.com", "--admin")
    cli_ok(store, "import", str(DATA / "fixture.json"), "--as", "ops@example.com")
    log = tmp_path_factory.mktemp("admin-log") / "server.log"
    with serving(store.url, "admin", log) as (process, port):
        running = Served(port, process, log)
        wait_ready(process, log, lambda: running.call("GET", "/__lbheartbeat__")[0] == 200)
        yield running


def issue(store: Store, username: str) -> str:
    out = cli_ok(store, "tokens", "create", username, "--label", "tests", "--as", "ops")
    return out.strip().splitlines()[-1]


def test_tokens_are_issued_used_and_revoked_with_the_cli(store: Store, served: Served) -> None:
    token = issue(store, "ops@example.com")
    status, rule = served.call("GET", "/api/rules/1")
    assert status == 200
    status, answer = served.call(
        "PUT", "/api/rules/1", {"comment": "via token", "data_version": rule["data_version"]}, token
    )
    assert status == 200, answer
    assert answer == {"new_data_version": rule["data_version"] + 1}
    events = json.loads(cli_ok(store, "events", "--json", "--limit", "1"))
    assert events[-1]["actor"] == "ops@example.com"  # the identity is what changed_by records

    listed = json.loads(cli_ok(store, "tokens", "list", "--json", "--user", "ops@example.com"))
    token_id = token.split("_")[1]
    assert any(t["token_id"] == token_id and not t["revoked"] for t in listed)
    assert token not in json.dumps(listed)  # the secret is never shown again

    cli_ok(store, "tokens", "revoke", token_id, "--as", "ops")
    status, answer = served.call("PUT", "/api/rules/1", {"comment": "x", "data_version": 2}, token)
    assert status == 401, answer
    again = cli(store, "tokens", "revoke", token_id)
    assert again.returncode != 0 and "already revoked" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_a_token_for_a_name_without_permissions_cannot_write(store: Store, served: Served) -> None:
    token = issue(store, "newcomer@example.com")
    status, answer = served.call("PUT", "/api/rules/1", {"comment": "x", "data_version": 1}, token)
    assert status == 403, answer
    status, users = served.call("GET", "/api/users", None, issue(store, "ops@example.com"))
    assert status == 200 and "ops@example.com" in users
    assert "newcomer@example.com" not in json.dumps(users)


# --------------------------------------------------------------- release automation

NEW_RELEASE = "Firefox-122.0-build1"
PLATFORMS = ("WINNT_x86_64-msvc-x64", "Linux_x86_64-gcc3")
LOCALES = ("en-US", "de")


def _locale_build(platform: str, locale: str) -> dict[str, Any]:
    return {
        "buildID": "20240115000000",
        "appVersion": "122.0",
        "displayVersion": "122.0",
        "completes": [
            {
                "from": "*",
                "filesize": 40_000_000 + len(platform) + len(locale),
                "hashValue": "ab" * 64,
            }
        ],
    }


class BalrogClientLike:
    """Calls as balrogclient makes them: a HEAD for X-Data-Version before each write."""

    def __init__(self, served: Served, token: str) -> None:
        self.served = served
        self.token = token

    def head_version(self, path: str) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", self.served.port, timeout=30)
        try:
            conn.request("HEAD", "/api" + path, headers={"Authorization": f"Bearer {self.token}"})
            response = conn.getresponse()
            assert response.read() == b""
        finally:
            conn.close()
        if response.status == 404:
            return None
        assert response.status == 200, response.status
        return int(response.headers["X-Data-Version"])

    def write(self, method: str, path: str, data: dict[str, Any], prerequest: str) -> Any:
        version = self.head_version(prerequest)
        if version is not None and "data_version" not in data:
            data["data_version"] = version
        status, answer = self.served.call(method, "/api" + path, data, self.token)
        assert status in (200, 201), (method, path, status, answer)
        return answer


def test_release_automation_drives_it_like_balrog(store: Store, served: Served) -> None:
    """balrogscript's sequence: blobs per platform/locale, top level, a scheduled rule
    change signed off by two roles, enacted by the agent's identity."""
    admin_token = issue(store, "ops@example.com")
    for user in ("ffxbld@example.com", "relman@example.com", "releng@example.com",
                 "agent@example.com"):  # fmt: skip
        assert served.call("GET", f"/api/users/{user}", None, admin_token)[0] == 404
    grants = [
        ("ffxbld@example.com", "release", {"products": ["Firefox"]}),
        ("ffxbld@example.com", "release_locale", {"products": ["Firefox"]}),
        ("ffxbld@example.com", "rule", {"products": ["Firefox"]}),
        ("relman@example.com", "rule", {"products": ["Firefox"]}),
        ("releng@example.com", "rule", {"products": ["Firefox"]}),
        ("agent@example.com", "scheduled_change", {"actions": ["enact"]}),
    ]
    for user, permission, options in grants:
        status, answer = served.call(
            "PUT", f"/api/users/{user}/permissions/{permission}",
            {"options": json.dumps(options)}, admin_token,
        )  # fmt: skip
        assert status == 201, answer
    signers = (("relman@example.com", "releng"), ("releng@example.com", "releng"))
    for user, role in signers:
        status, answer = served.call("PUT", f"/api/users/{user}/roles/{role}", {}, admin_token)
        assert status == 201, answer
    status, answer = served.call(
        "POST", "/api/required_signoffs/product",
        {"product": "Firefox", "channel": "release", "role": "releng", "signoffs_required": 2},
        admin_token,
    )  # fmt: skip
    assert status == 201, answer

    ffxbld = BalrogClientLike(served, issue(store, "ffxbld@example.com"))
    # 1. one PUT per platform and locale (SingleLocale.update_build), one retried as is
    for platform in PLATFORMS:
        for locale in LOCALES:
            build = {"product": "Firefox", "hashFunction": "sha512", "schema_version": 9,
                     "data": json.dumps(_locale_build(platform, locale))}  # fmt: skip
            path = f"/releases/{NEW_RELEASE}/builds/{platform}/{locale}"
            ffxbld.write("PUT", path, dict(build), f"/releases/{NEW_RELEASE}")
    retried = ffxbld.write(
        "PUT", f"/releases/{NEW_RELEASE}/builds/{PLATFORMS[0]}/{LOCALES[0]}",
        {"product": "Firefox", "hashFunction": "sha512", "schema_version": 9,
         "data": json.dumps(_locale_build(PLATFORMS[0], LOCALES[0]))},
        f"/releases/{NEW_RELEASE}",
    )  # fmt: skip
    # 2. the top level (Release.update_release: a POST merged into the blob)
    download = "http://download.mozilla.org/?lang=%LOCALE%"  # an allowlisted host
    top = {"appVersion": "122.0", "displayVersion": "122.0", "updateLine": [],
           "fileUrls": {"*": {"completes": {"*": download}}}}  # fmt: skip
    answer = ffxbld.write(
        "POST", f"/releases/{NEW_RELEASE}",
        {"name": NEW_RELEASE, "product": "Firefox", "hashFunction": "sha512",
         "schema_version": 9, "data": json.dumps(top)},
        f"/releases/{NEW_RELEASE}",
    )  # fmt: skip
    assert answer["new_data_version"] == retried["new_data_version"] + 1
    status, blob = served.call("GET", f"/api/releases/{NEW_RELEASE}")
    assert status == 200
    assert set(blob["platforms"]) == set(PLATFORMS)
    for platform in PLATFORMS:
        assert set(blob["platforms"][platform]["locales"]) == set(LOCALES)
    assert blob["appVersion"] == "122.0"

    # 3. the release rule needs signoffs: a direct edit is refused, a scheduled one is not
    status, answer = served.call(
        "POST", "/api/rules/firefox-release",
        {"mapping": NEW_RELEASE, "data_version": ffxbld.head_version("/rules/firefox-release")},
        ffxbld.token,
    )  # fmt: skip
    assert status == 400 and answer["detail"] == "Signoff Required", answer
    status, rule = served.call("GET", "/api/rules/firefox-release")
    when = int(time.time() * 1000) + 3_600_000
    change = {key: rule[key] for key in rule if key not in ("rule_id", "data_version")}
    change.update(fallbackMapping=rule["mapping"], mapping=NEW_RELEASE, change_type="update",
                  when=when, rule_id=rule["rule_id"])  # fmt: skip
    scheduled = ffxbld.write("POST", "/scheduled_changes/rules", change, "/rules/1")
    sc_id = scheduled["sc_id"]

    agent = issue(store, "agent@example.com")
    status, answer = served.call("POST", f"/api/scheduled_changes/rules/{sc_id}/enact", {}, agent)
    assert status == 400 and answer["detail"] == "Signoff Required", answer
    # 4. two signoffs by two holders of the required role
    for user, role in signers:
        status, answer = served.call(
            "POST", f"/api/scheduled_changes/rules/{sc_id}/signoffs", {"role": role},
            issue(store, user),
        )  # fmt: skip
        assert status == 200, answer
    status, row = served.call("GET", f"/api/scheduled_changes/rules/{sc_id}")
    assert status == 200
    assert row["scheduled_change"]["signoffs"] == dict(signers)
    # 5. enact (the agent's identity); the rule now maps to the new release
    status, answer = served.call("POST", f"/api/scheduled_changes/rules/{sc_id}/enact", {}, agent)
    assert status == 200, answer
    status, after = served.call("GET", "/api/rules/firefox-release")
    assert after["mapping"] == NEW_RELEASE and after["fallbackMapping"] == rule["mapping"]
    assert after["data_version"] == rule["data_version"] + 1
    status, listed = served.call("GET", "/api/scheduled_changes/rules", None, None)
    assert sc_id not in [c["sc_id"] for c in listed["scheduled_changes"]]
    events = json.loads(cli_ok(store, "events", "--json", "--limit", "8"))
    assert "agent@example.com" in {e["actor"] for e in events}, events
