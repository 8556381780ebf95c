"""The ``updateLine`` overlap check of apprelease v9 blobs.

Balrog's ``ReleaseBlobV9.validate`` simulates rule matching to prove that no
request can match two updateLine groups that set the same field. It uses
Balrog's own version, buildID and channel matching (auslib.util.versions,
.comparison and .rulematching), so this check uses the serving path's
(``domain.serving.versions`` and ``.matching``), quirks included: e.g. two
different plain versions in overlapping groups cannot be compared and make
Balrog refuse the blob.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.blobs.problems import invalid
from rulelog.domain.serving.matching import channel_matches
from rulelog.domain.serving.versions import (
    StringExpression,
    UnusableExpression,
    VersionExpression,
)


class Incomparable(Exception):
    """Balrog cannot decide whether two updateLine conditions overlap, so it refuses."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(left, right)
        self.left, self.right = left, right


def version_matches(rule: str, query: str) -> bool:
    """Balrog's ``matchVersion``: does version ``query`` satisfy any part of ``rule``?"""
    try:
        return VersionExpression(rule).matches(query)
    except (UnusableExpression, Invalid):
        raise Incomparable(rule, query) from None


def build_id_matches(rule: str, query: str) -> bool:
    """Balrog's ``matchBuildID``: a plain string comparison after the operator."""
    try:
        return StringExpression(rule).matches(query)
    except UnusableExpression:
        raise Incomparable(rule, query) from None


def _channel_matches(rule: str, channel: str) -> bool:
    """Balrog's ``matchChannel``, including the ``-cck-`` fallback channel."""
    try:
        return channel_matches(rule, channel)
    except re.error:
        raise Incomparable(rule, channel) from None


def channels_overlap(left: list[str], right: list[str]) -> bool:
    for a, b in itertools.product(left, right):
        if a == b or _channel_matches(a, b.rstrip("*")) or _channel_matches(b, a.rstrip("*")):
            return True
    return False


def _locales_overlap(left: list[str], right: list[str]) -> bool:
    return bool(set(left) & set(right))


def _has_operator(value: str) -> bool:
    return value.startswith(("<", ">"))


def _version_parts(version: str, whole: str, other: str) -> list[int]:
    try:
        return [int(p) for p in version.split(".")]
    except ValueError:
        raise Incomparable(whole, other) from None


def _comparisons_overlap(
    a: str,
    b: str,
    nearest: Callable[[str, str], str | None],
    matches: Callable[[str, str], bool],
) -> bool:
    """Whether two values admit a common one, judged as Balrog does: one admits the
    nearest value the other admits. A value with no nearest one cannot be compared."""
    near = [n for v, o in ((a, b), (b, a)) if (n := nearest(v, o)) is not None]
    if len(near) != 2:
        raise Incomparable(a, b)
    return matches(a, near[1]) or matches(b, near[0])


def _nearest_version(value: str, other: str) -> str | None:
    """The closest concrete version a comparison admits (None for plain versions)."""
    bare = value.lstrip("<>=")
    if "=" in value:
        return bare
    if value.startswith("<"):
        parts = _version_parts(bare, value, other)
        for i in reversed(range(len(parts))):
            if parts[i]:
                parts[i] -= 1
                break
            if i == 0:
                raise Incomparable(value, other)
            parts[i] = 999  # Balrog's assumption: no version part exceeds 999
        return ".".join(map(str, parts))
    if value.startswith(">"):
        parts = _version_parts(bare, value, other)
        parts[-1] += 1
        return ".".join(map(str, parts))
    return None


def versions_overlap(left: list[str], right: list[str]) -> bool:
    for a, b in itertools.product(left, right):
        if a == b:
            return True
        if _has_operator(a) and not _has_operator(b):
            if version_matches(a, b):
                return True
        elif _has_operator(b) and not _has_operator(a):
            if version_matches(b, a):
                return True
        elif _comparisons_overlap(a, b, _nearest_version, version_matches):
            return True
    return False


def _nearest_build_id(value: str, other: str) -> str | None:
    bare = value.lstrip("<>=")
    if "=" in value:
        return bare
    if value.startswith(("<", ">")):
        try:
            number = int(bare)
        except ValueError:
            raise Incomparable(value, other) from None
        return str(number - 1 if value.startswith("<") else number + 1)
    return None


def build_ids_overlap(left: list[str], right: list[str]) -> bool:
    for a, b in itertools.product(left, right):
        if a == b or _comparisons_overlap(a, b, _nearest_build_id, build_id_matches):
            return True
    return False


_OVERLAP: dict[str, Callable[[list[str], list[str]], bool]] = {
    "channels": channels_overlap,
    "locales": _locales_overlap,
    "versions": versions_overlap,
    "buildIDs": build_ids_overlap,
}


def _group_part(group: dict[str, Any], index: int, key: str) -> dict[str, Any]:
    """A group's ``for``/``fields``; Balrog fails when the check needs one that is absent."""
    if key not in group:
        raise invalid(("updateLine", index), f"{key!r} is required when groups are compared")
    return group[key]


def check_update_line(groups: list[dict[str, Any]]) -> None:
    """Refuse two groups that set the same field and could match the same request."""
    clashes: list[tuple[int, int, set[str]]] = []
    for (i, first), (j, second) in itertools.product(enumerate(groups), repeat=2):
        if first == second:
            continue
        shared = set(_group_part(first, i, "fields")) & set(_group_part(second, j, "fields"))
        if not shared:
            continue
        overlaps = []
        for condition, overlap in _OVERLAP.items():
            # A condition missing from either group matches everything.
            if condition not in _group_part(first, i, "for") or condition not in _group_part(
                second, j, "for"
            ):
                continue
            try:
                overlaps.append(overlap(first["for"][condition], second["for"][condition]))
            except Incomparable as err:
                raise invalid(
                    ("updateLine", i, "for", condition),
                    f"cannot tell whether {err.left!r} and {err.right!r} (updateLine.{j}) overlap",
                ) from None
        if all(overlaps):
            clashes.append((i, j, shared))
    if clashes:
        i, j, _ = clashes[0]
        fields = ", ".join(sorted(set().union(*(c[2] for c in clashes))))
        raise invalid(
            ("updateLine",),
            f"groups {i} and {j} can match the same request and both set: {fields}",
        )
