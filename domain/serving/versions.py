"""Version parsing and comparison with Balrog's exact semantics.

Balrog does not use a general version library: it keeps distutils-era
``StrictVersion`` subclasses (``src/auslib/util/versions.py``) whose quirks
decide which rule matches and whether an update is served. ``mozilla-version``
is stricter (it rejects ``3.6.3plugin1``, ``1.5.0.12`` and globs), so those
quirks are reproduced here:

* ``MozillaVersion`` picks a grammar by the number of dots and the major
  number: majors above 4 with one or two dots allow only an ``aN`` suffix
  (``122.0b3`` is invalid), majors up to 4 allow any letters (only the first
  letter is kept: ``3.6.3plugin1`` equals ``3.6.3p1``), four-part versions
  drop their third part (``1.5.0.12`` is ``1.5.12``), ``N.*`` and ``N.M.*``
  are globs.
* Globs compare equal by prefix, and in one direction by string prefix, so
  equality against a glob is tested both ways (``either_eq``).
* ``FirefoxVPN`` and ``Guardian`` use ``LooseVersion`` (lists of ints and
  strings); comparing an int part with a str part fails (Balrog answers 500).
* ``PinVersion`` (``120.`` / ``120.1.``) compares to a version's prefix.

Parsed versions are immutable and cached by their text: update traffic repeats
the same few hundred versions, so parsing is paid once per distinct string.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from rulelog.domain.errors import Invalid

# Grammars. Deliberately no re.ASCII and "$" (which also matches before a
# final newline): this is how Balrog's patterns behave.
_POST_MODERN = re.compile(r"^(\d+)\.(\d+)(\.(\d+))?(a(\d+))?$")
_MODERN = re.compile(r"^(\d+)\.(\d+)(\.(\d+))?([a-zA-Z]+(\d+))?$")
_ANCIENT = re.compile(r"^(\d+)\.(\d+)\.\d(\.(\d+))([a-zA-Z]+(\d+))?$")
_GLOB = re.compile(r"^(\d+)\.(\d+\.\*|\*)$")
_PIN = re.compile(r"^(\d+)\.((\d+)\.)?$")
_LOOSE_PART = re.compile(r"(\d+|[a-z]+|\.)")


def _prefix_equal(glob: tuple[int, ...], other: tuple[int, ...]) -> bool:
    """Glob tuple equality: ``other`` starts with every part of ``glob``."""
    return len(other) >= len(glob) and other[: len(glob)] == glob


class _MozBase:
    """Ordering shared by strict and glob versions (Balrog's StrictVersion).

    Strict and glob versions are siblings, not parent and child, so that
    ``a == b`` always asks the left operand first, as in Balrog.
    """

    __slots__ = ("prerelease", "version")
    is_glob = False

    def __init__(self, version: tuple[int, ...], prerelease: tuple[str, int] | None) -> None:
        self.version = version
        self.prerelease = prerelease

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: _MozBase) -> bool:
        return _strict_cmp(self, other) < 0

    def __le__(self, other: _MozBase) -> bool:
        return _strict_cmp(self, other) <= 0

    def __gt__(self, other: _MozBase) -> bool:
        return _strict_cmp(self, other) > 0

    def __ge__(self, other: _MozBase) -> bool:
        return _strict_cmp(self, other) >= 0


class MozVersion(_MozBase):
    """A strict Mozilla version: ``(major, minor, patch)`` plus a prerelease."""

    __slots__ = ()

    def __str__(self) -> str:
        parts = self.version[0:2] if self.version[2] == 0 else self.version
        text = ".".join(map(str, parts))
        if self.prerelease:
            text += self.prerelease[0] + str(self.prerelease[1])
        return text

    def __repr__(self) -> str:
        return f"MozVersion('{self}')"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _MozBase):
            return NotImplemented
        return _strict_cmp(self, other) == 0

    __hash__ = None  # type: ignore[assignment]


class GlobVersion(_MozBase):
    """``N.*`` / ``N.M.*``: equal to versions that start with the prefix.

    Equality asked of the glob compares version *strings*, so ``80.0.*`` is
    not equal to ``80.0.0`` (printed ``80.0``) that way round; ordering and
    equality asked of a strict version compare numeric prefixes instead.
    """

    __slots__ = ("vstring",)
    is_glob = True

    def __init__(self, version: tuple[int, ...], vstring: str) -> None:
        super().__init__(version, None)
        self.vstring = vstring

    def __str__(self) -> str:
        return self.vstring

    def __repr__(self) -> str:
        return f"GlobVersion('{self.vstring}')"

    def __eq__(self, other: object) -> bool:
        return str(other).startswith(self.vstring.rstrip("*"))

    __hash__ = None  # type: ignore[assignment]


AnyMozVersion = MozVersion | GlobVersion


def _versions_differ(a: _MozBase, b: _MozBase) -> bool:
    if a.is_glob:
        return not _prefix_equal(a.version, b.version)
    if b.is_glob:
        return not _prefix_equal(b.version, a.version)
    return a.version != b.version


def _strict_cmp(a: _MozBase, b: _MozBase) -> int:
    """StrictVersion ordering: numbers first, then 'no prerelease' beats any."""
    if _versions_differ(a, b):
        return -1 if a.version < b.version else 1
    pa, pb = a.prerelease, b.prerelease
    if not pa and not pb:
        return 0
    if pa and not pb:
        return -1
    if pb and not pa:
        return 1
    assert pa is not None and pb is not None
    if pa == pb:
        return 0
    return -1 if pa < pb else 1


def _strict(pattern: re.Pattern[str], text: str) -> MozVersion:
    match = pattern.match(text)
    if not match:
        raise ValueError(text)
    major, minor, patch, pre, pre_num = match.group(1, 2, 4, 5, 6)
    version = (int(major), int(minor), int(patch) if patch else 0)
    return MozVersion(version, (pre[0], int(pre_num)) if pre else None)


def _glob(text: str) -> GlobVersion:
    if not _GLOB.match(text):
        raise ValueError(text)
    return GlobVersion(tuple(int(p) for p in text.split(".") if p != "*"), text)


@lru_cache(maxsize=8192)
def moz_version(text: str) -> AnyMozVersion:
    """Parse like Balrog's ``MozillaVersion``; bad input is the client's fault."""
    try:
        if text.count(".") in (1, 2):
            if int(text.split(".")[0]) > 4:
                if text.endswith(".*"):
                    return _glob(text)
                return _strict(_POST_MODERN, text)
            return _strict(_MODERN, text)
        return _strict(_ANCIENT, text)
    except ValueError:
        raise Invalid(f"Version number {text} is invalid.", field="version") from None


class LooseVersion:
    """distutils ``LooseVersion``: digit runs become ints, the rest strings."""

    __slots__ = ("version", "vstring")

    def __init__(self, vstring: str) -> None:
        self.vstring = vstring
        parts: list[int | str] = []
        for piece in _LOOSE_PART.split(vstring):
            if not piece or piece == ".":
                continue
            try:
                parts.append(int(piece))
            except ValueError:
                parts.append(piece)
        self.version = tuple(parts)

    def __str__(self) -> str:
        return self.vstring

    def __repr__(self) -> str:
        return f"LooseVersion('{self.vstring}')"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LooseVersion):
            return NotImplemented
        if self.version == other.version:
            return True
        # Balrog's equality runs a full comparison, so unequal versions with
        # an int facing a str fail here too (TypeError, a 500 in Balrog).
        _ = self.version < other.version
        return False

    __hash__ = None  # type: ignore[assignment]

    # Mixed int/str parts raise TypeError here, as they do in Balrog (a 500).
    def __lt__(self, other: LooseVersion) -> bool:
        return self.version != other.version and self.version < other.version

    def __le__(self, other: LooseVersion) -> bool:
        return self.version == other.version or self.version < other.version

    def __gt__(self, other: LooseVersion) -> bool:
        return self.version != other.version and not self.version < other.version

    def __ge__(self, other: LooseVersion) -> bool:
        return self.version == other.version or not self.version < other.version


@lru_cache(maxsize=4096)
def loose_version(text: str) -> LooseVersion:
    """Parse like Balrog's ``LooseVersion`` (never fails)."""
    return LooseVersion(text)


VersionParser = Callable[[str], Any]


def version_parser_for(product: str) -> VersionParser:
    """Balrog's ``get_version_class``: VPN products use loose versions."""
    if product in ("FirefoxVPN", "Guardian"):
        return loose_version
    return moz_version


class PinVersion:
    """An update pin, ``X.`` or ``X.Y.``: equal to every version it prefixes."""

    __slots__ = ("version",)

    def __init__(self, version: tuple[int, ...]) -> None:
        self.version = version

    def __str__(self) -> str:
        return "".join(f"{part}." for part in self.version)

    def __repr__(self) -> str:
        return f"PinVersion('{self}')"

    def is_exceeded_by(self, release: AnyMozVersion) -> bool:
        """``release > pin``; Balrog cannot compare a pin with a glob (500)."""
        if release.is_glob:
            raise TypeError("a pin cannot be compared with a glob version")
        return self.version < release.version[: len(self.version)]


def pin_version(text: str) -> PinVersion:
    """Parse a pin; raises Invalid with Balrog's wording when malformed."""
    match = _PIN.match(text)
    if not match:
        raise Invalid(f"Version Pin String '{text}' is invalid.", field="pin")
    major, minor = match.group(1, 3)
    parts = (major,) if minor is None else (major, minor)
    return PinVersion(tuple(int(p) for p in parts))


# --- comparison expressions (rule version / buildID / memory) ---------------

_OPERATORS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (op, re.compile(rf"({op})([\.\w]+)")) for op in (">=", ">", "<", "<=")
)
_WORD_START = re.compile(r"\w+")
_APPLY: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
}


def split_operator(pattern: str) -> tuple[str, str] | None:
    """Balrog's ``get_op``: ``(operator, operand)`` or None when unusable.

    A trailing ``*`` makes the whole pattern (operator included) a glob
    operand; a pattern starting with a word character is an exact value;
    otherwise the operand is the run of ``[.\\w]`` after the operator and
    anything behind it is ignored. None (nothing recognised, e.g. ``=120.0``
    or an empty string) makes Balrog crash with a 500.
    """
    if pattern.endswith("*"):
        return ("*", pattern)
    if _WORD_START.match(pattern):
        return ("=", pattern)
    for op, regex in _OPERATORS:
        match = regex.match(pattern)
        if match:
            return (op, match.group(2))
    return None


class UnusableExpression(TypeError):
    """A rule expression Balrog cannot even split into operator and operand."""


def _unusable(pattern: str) -> UnusableExpression:
    return UnusableExpression(f"cannot split comparison {pattern!r} into operator and operand")


def _either_eq(a: Any, b: Any) -> bool:
    return bool(a == b or b == a)


class VersionExpression:
    """A rule's ``version``: comma-separated comparisons, any may match."""

    __slots__ = ("parts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts = tuple((part, split_operator(part)) for part in source.split(","))

    def matches(self, query_version: str, parse: VersionParser = moz_version) -> bool:
        for pattern, split in self.parts:
            if split is None:
                raise _unusable(pattern)
            op, operand = split
            value = parse(query_version)
            other = parse(operand)
            if _either_eq(value, other) if op == "*" else _APPLY[op](value, other):
                return True
        return False


class _OneComparison:
    """A rule column holding one comparison, split into operator and operand once;
    a source that does not split is refused when it is used, as Balrog does.
    A bare operand (operator ``*``) means equality."""

    __slots__ = ("source", "split")

    def __init__(self, source: str) -> None:
        self.source = source
        self.split = split_operator(source)

    @staticmethod
    def operand(text: str) -> Any:
        """The operand as the column's values are compared."""
        return text

    def matches(self, value: Any) -> bool:
        if self.split is None:
            raise _unusable(self.source)
        op, text = self.split
        operand = self.operand(text)
        return value == operand if op == "*" else _APPLY[op](value, operand)


class StringExpression(_OneComparison):
    """A rule's ``buildID``: one comparison of strings (no globbing)."""

    __slots__ = ()


class IntExpression(_OneComparison):
    """A rule's ``memory``: one integer comparison (operand parsed per use)."""

    __slots__ = ()

    @staticmethod
    def operand(text: str) -> int:
        return int(text)  # ValueError for "2048*" or "abc": a 500 in Balrog
