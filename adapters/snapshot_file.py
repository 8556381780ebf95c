"""A Balrog snapshot file read item by item (``rulelog import FILE``).

``json.loads`` of a 66 MB snapshot (100,000 rules, 10,000 releases) holds
the whole document as Python objects (about 220 MB, more for bigger blobs)
for the whole import. ``ijson`` (its C backend, yajl2) parses the file as a
stream instead: ``items`` builds one rule or release at a time, so memory
is bounded by the largest item, not by the file. The planner reads the
sections in its own order (releases before the rules and pins that map to
them), so each section is one scan of the file: a scan costs about half a
second of CPU per 66 MB, far less than planning the items it yields.

The shape of the document (an object whose keys are known sections, each a
list or null) is checked by one scan of its parse events before any item is
planned, as ``json.loads`` would refuse a broken file before anything else;
the same scan counts each section's items for the progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from rulelog.domain.catalog.snapshot import SECTIONS, SnapshotSource
from rulelog.domain.errors import Invalid

#: The parse events that begin a value (an item, when the prefix is ``<section>.item``).
_VALUE_STARTS = frozenset(("start_map", "start_array", "string", "number", "boolean", "null"))


class JsonFileSnapshot(SnapshotSource):
    """A snapshot in a JSON file, parsed incrementally (each section one scan)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sizes: dict[str, int] | None = None
        self._open().close()  # an unreadable file is refused at once

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as error:
            raise Invalid(f"{self.path}: cannot read: {error.strerror}") from None

    def _not_json(self, error: Exception) -> Invalid:
        return Invalid(f"{self.path}: not valid JSON: {error}")

    def sizes(self) -> Mapping[str, int]:
        if self._sizes is None:
            with self._open() as file:
                try:
                    self._sizes = self._shape(ijson.parse(file, use_float=True))
                except (ijson.JSONError, UnicodeDecodeError) as error:
                    raise self._not_json(error) from None
        return self._sizes

    def items(self, section: str) -> Iterator[Any]:
        if not self.sizes().get(section):
            return
        with self._open() as file:
            try:
                yield from ijson.items(file, f"{section}.item", use_float=True)
            except (ijson.JSONError, UnicodeDecodeError) as error:
                raise self._not_json(error) from None

    @staticmethod
    def _shape(events: Iterator[tuple[str, str, Any]]) -> dict[str, int]:
        """Each section's item count, refusing what ``MappingSnapshot`` refuses."""
        first = next(events, None)
        if first is None or first[1] != "start_map":
            for _ in events:  # a broken file is "not valid JSON" before anything else
                pass
            raise Invalid(
                "snapshot: must be a JSON object with rules and releases", field="snapshot"
            )
        # One dict lookup per event: nearly all are deeper inside an item.
        watched = {f"{section}.item": (section, True) for section in SECTIONS}
        watched.update({section: (section, False) for section in SECTIONS})
        counts: dict[str, int] = {}
        kinds: dict[str, str] = {}
        keys: list[str] = []
        for prefix, event, value in events:
            if not prefix:
                if event == "map_key":
                    keys.append(value)
                continue
            hit = watched.get(prefix)
            if hit is None:
                continue
            section, is_item = hit
            if is_item:
                if event in _VALUE_STARTS:
                    counts[section] = counts.get(section, 0) + 1
            elif section not in kinds:
                kinds[section] = event
        unknown = set(keys) - set(SECTIONS)
        if unknown:
            raise Invalid(f"snapshot: unknown section(s) {', '.join(sorted(unknown))}")
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise Invalid(f"snapshot: section(s) given twice: {', '.join(twice)}")
        for section in SECTIONS:
            if kinds.get(section, "start_array") not in ("start_array", "null"):
                raise Invalid(f"{section}: must be a list", field=section)
        return {section: counts.get(section, 0) for section in SECTIONS}
