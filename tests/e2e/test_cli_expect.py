"""Expectations through the real CLI: add, import (all or none), check, blocked signoff."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import DATA, Store
from tests.e2e.test_cli import ok, run

URL = (
    "/update/6/Firefox/119.0/20231120000000/Linux_x86_64-gcc3/de/release/"
    "Linux/default/default/default/update.xml"
)


def test_expectations_through_the_cli(store: Store, tmp_path: Path) -> None:
    ok(store, "users", "add", "admin", "--admin")
    ok(store, "import", str(DATA / "fixture.json"), "--as", "admin")
    ok(store, "users", "grant", "rm", "rule", "--products", "Firefox", "--as", "admin")
    ok(store, "users", "roles", "rm", "--grant", "relman", "--as", "admin")
    ok(store, "signoffs", "required", "add", "product", "--product", "Firefox",
       "--channel", "release", "--role", "relman", "--count", "1", "--as", "admin")  # fmt: skip
    ok(store, "expect", "add", "de-121", "--url", URL, "--release", "Firefox-121.0-build1",
       "--reason", "121 ships", "--as", "admin")  # fmt: skip

    lines = [json.dumps({"name": f"v{i}", "url": URL, "expect": {"version_at_least": "121.0"}})
             for i in range(5)]  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines[:3], '{"name": "x", "url": "/nowhere"}', *lines[3:]]))
    refused = run(store, "expect", "import", str(bad), "--as", "admin")
    assert refused.returncode == 2
    assert refused.stderr.startswith("rulelog: line 4: ") and refused.stderr.count("\n") == 1
    assert [e["name"] for e in json.loads(ok(store, "expect", "list", "--json"))] == ["de-121"]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines))
    assert "imported 5" in ok(store, "expect", "import", str(good), "--as", "admin")

    checked = json.loads(ok(store, "expect", "check", "--channel", "release", "--json"))
    assert checked["summary"] == {"checked": 6, "failing_live": 0, "failing_test": 0}

    made = run(store, "sc", "schedule", "rules", "update", "--row",
               '{"rule_id": 1, "mapping": "Firefox-120.0-build1"}',
               "--data-version", "1", "--when", "2099-01-01T00:00:00+00:00",
               "--as", "admin", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "warning: expectation failing on the test view: de-121 expects" in made.stderr
    scheduled = json.loads(made.stdout)
    sc_id = str(scheduled["sc_id"])
    shown = json.loads(ok(store, "sc", "show", "rules", sc_id, "--json"))
    assert len(shown["failing_expectations"]) == 6
    assert shown["failing_expectations"][0].startswith("de-121 expects release")
    checked = json.loads(ok(store, "expect", "check", "--json"))
    assert checked["summary"]["failing_test"] == 6
    checked_names = [f"v{i}" for i in range(5)]
    assert run(store, "expect", "check", "--strict").returncode == 1
    blocked = run(store, "sc", "signoff", "rules", sc_id, "--role", "relman", "--as", "rm")
    assert blocked.returncode == 4
    assert "de-121 expects release Firefox-121.0-build1 but gets Firefox-120.0-build1" in (
        blocked.stderr
    )
    assert f"rules change {sc_id}" in blocked.stderr
    ok(store, "sc", "signoff", "rules", sc_id, "--role", "relman", "--as", "rm",
       "--override-reason", "holding at 120")  # fmt: skip
    shown = json.loads(ok(store, "sc", "show", "rules", sc_id, "--json"))
    assert shown["signoffs"] == {"rm": "relman"}
    assert shown["expectation_overrides"] == [
        {"username": "rm", "reason": "holding at 120", "failures": ["de-121", *checked_names]}
    ]

    ok(store, "expect", "remove", "de-121", "--reason", "done", "--as", "admin")
    assert len(json.loads(ok(store, "expect", "list", "--json"))) == 5
    before = json.loads(ok(store, "expect", "list", "--at", "1", "--json"))
    assert before == []
    out = ok(store, "expect", "show", "v0")
    assert "live: pass: gets Firefox-121.0-build1 121.0 (rule 1)" in out


def test_a_yaml_file_is_imported_all_or_none(store: Store, tmp_path: Path) -> None:
    ok(store, "users", "add", "admin", "--admin")
    ok(store, "import", str(DATA / "fixture.json"), "--as", "admin")
    block = (
        "- name: uv\n  product: Firefox\n  channel: release\n"
        '  from: [{version: "119.0"}]\n  platforms: [Linux_x86_64-gcc3]\n'
        '  locales: [de, fr]\n  expect: {version_at_least: "121.0"}\n'
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(block + f"- {{name: x, url: '{URL}', expect: {{}}}}\n")
    refused = run(store, "expect", "import", str(bad), "--as", "admin")
    assert refused.returncode == 2 and refused.stderr.startswith("rulelog: line 8: ")
    assert json.loads(ok(store, "expect", "list", "--json")) == []
    good = tmp_path / "good.yml"
    good.write_text(block)
    assert "imported 2" in ok(store, "expect", "import", str(good), "--as", "admin")
