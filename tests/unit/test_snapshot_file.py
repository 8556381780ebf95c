"""A snapshot file read item by item refuses what ``json.loads`` and the in-memory
snapshot refuse, with the same one-line messages, before any item is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rulelog.adapters.snapshot_file import JsonFileSnapshot
from rulelog.domain.catalog.snapshot import MappingSnapshot
from rulelog.domain.errors import Invalid

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not valid JSON"),
        ('{"rules": [{"rule_id": 1}', "not valid JSON"),
        ('{"rules": []} trailing', "not valid JSON"),
        ("[1, 2]", "snapshot: must be a JSON object"),
        ('{"rules": [], "extra": 1}', "snapshot: unknown section(s) extra"),
        ('{"rules": {"item": {"rule_id": 1}}}', "rules: must be a list"),
        ('{"releases": "none"}', "releases: must be a list"),
        ('{"rules": [], "rules": [{"rule_id": 1}]}', "section(s) given twice: rules"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(text)
    with pytest.raises(Invalid) as info:
        JsonFileSnapshot(path).sizes()
    assert fragment in str(info.value)


def test_a_missing_file_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="cannot read"):
        JsonFileSnapshot(tmp_path / "missing.json")


def test_items_and_sizes_are_those_of_the_parsed_document(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    document = json.loads((DATA / "fixture.json").read_text())
    document["rules"][0]["backgroundRate"] = 12.5  # a float stays a float, not a Decimal
    document["pinnable_releases"] = None
    path.write_text(json.dumps(document))
    streamed, whole = JsonFileSnapshot(path), MappingSnapshot(document)
    assert streamed.sizes() == whole.sizes()
    for section, size in whole.sizes().items():
        items = list(streamed.items(section))
        assert items == list(whole.items(section)) and len(items) == size
    assert type(next(iter(streamed.items("rules")))["backgroundRate"]) is float
