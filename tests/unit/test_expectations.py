"""Expectation specs, judging an answer, and reading import files: pure, no store."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.errors import Invalid
from rulelog.domain.workflow.expectations import (
    judge,
    parse_import,
    parse_yaml_import,
    url_from_fields,
    validate_spec,
)

URL = (
    "/update/6/Firefox/119.0/20231120000000/Linux_x86_64-gcc3/de/release/"
    "Linux/default/default/default/update.xml"
)


def answer(version: str | None, release: str | None = "R", rule_id: int | None = 1) -> dict:
    return {"update": version is not None, "release": release if version else None,
            "version": version, "rule_id": rule_id}  # fmt: skip


def test_spec_takes_product_and_channel_from_the_url() -> None:
    spec = validate_spec({"name": "n", "url": URL, "expect": {"no_update": True}})
    assert (spec["product"], spec["channel"]) == ("Firefox", "release")


def test_fields_build_the_same_url() -> None:
    fields = {"product": "Firefox", "version": "119.0", "buildID": "20231120000000",
              "buildTarget": "Linux_x86_64-gcc3", "locale": "de", "channel": "release",
              "osVersion": "Linux"}  # fmt: skip
    assert url_from_fields(fields) == URL


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"url": URL, "expect": {"no_update": True}}, "name"),
        ({"name": "n", "expect": {"no_update": True}}, "exactly one of url and fields"),
        ({"name": "n", "url": "/nowhere", "expect": {"no_update": True}}, "url"),
        ({"name": "n", "url": URL, "expect": {}}, "expect"),
        ({"name": "n", "url": URL, "expect": {"no_update": False}}, "no_update"),
        ({"name": "n", "url": URL, "expect": {"rule_id": True}}, "rule_id"),
        ({"name": "n", "url": URL, "expect": {"version_at_most": "x.y.z.w"}}, "not a version"),
        ({"name": "n", "url": URL, "expect": {"release": "R"}, "extra": 1}, "unknown"),
        ({"name": "n", "url": URL, "channel": "beta", "expect": {"release": "R"}}, "channel"),
    ],
)
def test_bad_specs_are_refused(raw: dict, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        validate_spec(raw)


def test_judging_each_kind_of_expectation() -> None:
    assert judge({"release": "R"}, answer("121.0"), "Firefox")
    assert not judge({"release": "S"}, answer("121.0"), "Firefox")
    assert judge({"no_update": True}, answer(None), "Firefox")
    assert not judge({"no_update": True}, answer("121.0"), "Firefox")
    assert judge({"rule_id": 1}, answer(None), "Firefox")
    assert not judge({"rule_id": 2}, answer("121.0"), "Firefox")
    assert not judge({"version_at_least": "1.0"}, answer(None), "Firefox")


versions = st.tuples(st.integers(1, 200), st.integers(0, 9)).map(lambda t: f"{t[0]}.{t[1]}")


@given(served=versions, bound=versions)
def test_at_least_and_at_most_both_hold_only_at_the_bound(served: str, bound: str) -> None:
    least = judge({"version_at_least": bound}, answer(served), "Firefox")
    most = judge({"version_at_most": bound}, answer(served), "Firefox")
    assert least or most  # versions are totally ordered
    assert (least and most) == (tuple(map(int, served.split("."))) ==
                                tuple(map(int, bound.split("."))))  # fmt: skip


def test_import_names_the_bad_line_and_a_repeated_name() -> None:
    good = json.dumps({"name": "a", "url": URL, "expect": {"no_update": True}})
    with pytest.raises(Invalid, match=r"^line 3: Expecting"):
        parse_import(f"{good}\n\n{{not json\n")
    with pytest.raises(Invalid, match=r"^line 2: a already given on line 1"):
        parse_import(f"{good}\n{good}\n")
    with pytest.raises(Invalid, match="no expectations"):
        parse_import("# only a comment\n")


def test_update_verify_block_is_the_product_of_its_lists() -> None:
    block = {"name": "uv", "product": "Firefox", "channel": "release",
             "from": [{"version": "118.0"}, {"version": "119.0"}],
             "platforms": ["Linux_x86_64-gcc3", "WINNT_x86_64-msvc"],
             "locales": ["de", "fr", "ja"], "expect": {"version_at_least": "121.0"}}  # fmt: skip
    specs = parse_import(json.dumps(block))
    assert len(specs) == 2 * 2 * 3
    assert len({s["url"] for s in specs}) == 12
    assert all(s["channel"] == "release" for s in specs)
    with pytest.raises(Invalid, match=r"^line 1: locales"):
        parse_import(json.dumps({**block, "locales": []}))


YAML_FILE = f"""\
# Expectations for the release channel, written by hand.
- name: de-121
  url: {URL}
  expect: {{release: Firefox-121.0-build1}}
- name: uv
  product: Firefox
  channel: release
  from: [{{version: "118.0"}}]
  platforms: [Linux_x86_64-gcc3]
  locales: [de, fr]
  expect: {{version_at_least: "121.0"}}
"""


def test_a_yaml_file_holds_the_same_specs_and_blocks_as_json_lines() -> None:
    specs = parse_yaml_import(YAML_FILE)
    assert [s["name"] for s in specs][:1] == ["de-121"] and len(specs) == 3
    lines = "\n".join(json.dumps(item) for item in yaml.safe_load(YAML_FILE))
    assert specs == parse_import(lines)


def test_a_bad_yaml_item_is_named_by_its_line_and_nothing_is_kept() -> None:
    bad = YAML_FILE.replace("{version_at_least: \"121.0\"}", "{version_at_least: nope}")
    with pytest.raises(Invalid, match=r"^line 5: "):
        parse_yaml_import(bad)
    again = YAML_FILE + f"- {{name: de-121, url: '{URL}', expect: {{no_update: true}}}}\n"
    with pytest.raises(Invalid, match=r"^line 12: de-121 already given on line 2"):
        parse_yaml_import(again)
    with pytest.raises(Invalid, match=r"^line 3: not YAML"):
        parse_yaml_import("- name: a\n  url: [unclosed\n  expect: {}\n")
    with pytest.raises(Invalid, match="is a list"):
        parse_yaml_import("name: a\n")
    with pytest.raises(Invalid, match="no expectations"):
        parse_yaml_import("# nothing\n")
