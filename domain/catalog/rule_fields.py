"""Field validation for Balrog rules, as pure functions.

rulelog must refuse every rule that Balrog's admin API refuses, with a message
naming the field, so clients see the same boundary whichever server they talk
to; yet it must also take in every rule a Balrog database already holds, some
of which that API would now refuse. Hence two levels: ``normalize_rule``'s
default (what a stored rule may be) and ``admin_api=True`` (what a client may
send). The checks reproduce, check by check, what Balrog applies when a rule is
created or changed (``mozilla-releng/balrog``):

* the JSON schema ``RulesBase`` / ``UpdateType`` / ``RulesNonNullable`` in
  ``src/auslib/web/common/swagger/definitions.yml`` (types, ``maxLength``,
  ``format: ascii``, the alias ``pattern``, the ``update_type`` enum), with the
  ``required`` list of ``POST /rules`` in ``src/auslib/web/admin/swagger/api.yml``;
* the format checkers in ``src/auslib/util/jsonschema_validators.py``
  (``priority``, ``backgroundRate``, ``version``, ``buildID``), which parse
  values with ``get_op`` from ``src/auslib/util/comparison.py`` and
  ``MozillaVersion`` from ``src/auslib/util/versions.py``;
* ``process_rule_form`` in ``src/auslib/web/admin/views/rules.py``, which runs
  *after* the schema: it deletes all whitespace inside ``locale`` and
  ``distribution``, strips every string and turns empty ones into null, and
  makes ``priority`` / ``backgroundRate`` integers. Hence every check here
  looks at the value as given, and normalization happens afterwards.

Where Balrog is looser than its own runtime can cope with, rulelog is stricter
and says so in the docstring of the check concerned. Cross-entity checks (the
mapping names an existing release, the alias is unique, permissions) are not
field validation and belong to the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from rulelog.domain.catalog.names import check_addressable
from rulelog.domain.errors import Invalid
from rulelog.domain.serving.versions import moz_version, split_operator

__all__ = ["RULE_COLUMNS", "RULE_FIELDS", "normalize_rule", "validate_alias"]

#: Every column of Balrog's ``rules`` table, in the order ``auslib.db.Rules``
#: declares them.
RULE_FIELDS: tuple[str, ...] = (
    "rule_id",
    "alias",
    "priority",
    "mapping",
    "fallbackMapping",
    "backgroundRate",
    "update_type",
    "product",
    "version",
    "channel",
    "buildTarget",
    "buildID",
    "locale",
    "osVersion",
    "memory",
    "instructionSet",
    "jaws",
    "mig64",
    "distribution",
    "distVersion",
    "headerArchitecture",
    "comment",
)

#: The columns a normalized rule carries: all of them except the id, which the
#: caller owns.
RULE_COLUMNS: tuple[str, ...] = RULE_FIELDS[1:]

# --------------------------------------------------------------- precompiled

#: Balrog's alias ``pattern``. jsonschema applies it with ``re.search``, so the
#: same ``^...$`` regex used with ``match`` gives the same answers (``$`` also
#: matches before one final newline, which the later strip removes).
_ALIAS_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*$")

#: Integers as Balrog's format checkers accept them through ``int()``
#: (surrounding whitespace and a sign allowed; the range is checked apart).
_INT_STRING_RE = re.compile(r"\s*[+-]?[0-9]+\s*")

#: What ``int()`` must parse after a buildID's operator: the operand starts
#: with a word character, so no leading whitespace; trailing whitespace passes.
_BUILD_ID_NUMBER_RE = re.compile(r"[0-9]+\s*")

#: Where ``process_rule_form`` removes all whitespace, not just the ends.
_WHITESPACE_RE = re.compile(r"\s+")

_UPDATE_TYPES = frozenset({"minor", "major"})
_OPERATORS_TEXT = "<, <=, >, >="


# ------------------------------------------------------------------- helpers


def _shown(value: Any) -> str:
    """``repr`` cut short, so an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(field: str, problem: str, value: Any) -> Invalid:
    return Invalid(f"{field}: {problem}, got {_shown(value)}", field=field, value=value)


def _string(field: str, value: Any, max_length: int, *, ascii_only: bool = True) -> str | None:
    """Type, ``maxLength`` and ``format: ascii`` checks of a nullable string column.

    Balrog checks the raw value, before ``process_rule_form`` strips it, so the
    length limit applies to the value as sent.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, "must be a string or null", value)
    if len(value) > max_length:
        raise Invalid(
            f"{field}: must be at most {max_length} characters, got {len(value)}",
            field=field,
            value=value,
        )
    if ascii_only and not value.isascii():
        raise _fail(field, "must be ASCII", value)
    return value


def _stripped(value: str | None) -> str | None:
    """``process_rule_form``: strip strings and store empty ones as null."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _integer(field: str, value: Any, low: int, high: int | None) -> int | None:
    """``integer_and_range_validator``: an integer, or a string ``int()`` parses.

    Booleans and floats are refused, as JSON Schema draft 4 (which connexion
    uses for Balrog's swagger 2.0 API) does not count them as integers. Empty
    strings mean null, as in ``process_rule_form``.
    """
    wanted = f"an integer between {low} and {high}" if high is not None else f"an integer >= {low}"
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        if not _INT_STRING_RE.fullmatch(value):
            raise _fail(field, f"must be {wanted}", value)
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _fail(field, f"must be {wanted}", value)
    if number < low or (high is not None and number > high):
        raise _fail(field, f"must be {wanted}", value)
    return number


def _is_mozilla_version(text: str) -> bool:
    """Whether Balrog's ``MozillaVersion`` (``domain.serving.versions``) parses ``text``.

    ASCII only: Balrog's ``\\d`` would also take other scripts' digits, which
    no Mozilla version uses; refusing them is stricter, never looser (its
    grammars hold no other non-ASCII character).
    """
    if not text.isascii():
        return False
    try:
        moz_version(text)
    except Invalid:
        return False
    return True


# -------------------------------------------------------------- field checks


def _check_priority(value: Any) -> int | None:
    return _integer("priority", value, 0, None)


def _check_background_rate(value: Any) -> int | None:
    return _integer("backgroundRate", value, 0, 100)


def _check_update_type(value: Any) -> str:
    """The ``UpdateType`` enum; never null (``RulesNonNullable``), never stripped."""
    if not isinstance(value, str) or value not in _UPDATE_TYPES:
        raise _fail("update_type", "must be 'minor' or 'major'", value)
    return value


def _version_checker(plain_lists: bool) -> Callable[[Any], str | None]:
    """Balrog's ``version`` format; ``plain_lists`` adds its admin API's list rule.

    A value is one version, optionally after an operator (``<45.0``), or one
    glob (``99.98.*``, majors above 4 only), or a comma-separated list of those;
    every version must parse as a ``MozillaVersion`` (so ``5``, ``5.0b4`` and
    ``<= 4.0`` are refused). That is exactly what ``matchVersion`` evaluates,
    one list entry at a time. Balrog's admin API further refuses operators and
    globs inside a list (``<=4.0,3.0``), although its matcher copes with them
    and older stored rules carry them; ``plain_lists=True`` enforces that.
    ``version`` is not an ``ascii`` column in Balrog.
    """

    def check(value: Any) -> str | None:
        text = _string("version", value, 75, ascii_only=False)
        if not text:
            return None
        parts = text.split(",")
        in_list = len(parts) > 1
        for part in parts:
            split = split_operator(part)
            if split is None:
                raise _fail(
                    "version",
                    f"each entry must be a version, optionally after one of {_OPERATORS_TEXT}",
                    value,
                )
            op, operand = split
            if plain_lists and in_list and op != "=":
                raise _fail(
                    "version",
                    "operators and globs are not allowed in a comma-separated list",
                    value,
                )
            if not _is_mozilla_version(operand):
                raise _fail("version", f"{operand!r} is not a valid Mozilla version", value)
        return _stripped(text)

    return check


def _check_build_id(value: Any) -> str | None:
    """Balrog's ``buildID`` format: an integer, optionally after one operator.

    No globs and no lists. Balrog checks with ``int()``, which would also take
    ``_`` separators and non-ASCII digits; rulelog takes ASCII digits only.
    """
    text = _string("buildID", value, 20, ascii_only=False)
    if not text:
        return None
    wanted = f"must be an integer build ID, optionally prefixed by one of {_OPERATORS_TEXT}"
    split = split_operator(text)
    if split is None or split[0] == "*":
        raise _fail("buildID", wanted, value)
    # Balrog's int() reads all that follows the operator, not just the operand.
    number = text if split[0] == "=" else text[len(split[0]) :]
    if not _BUILD_ID_NUMBER_RE.fullmatch(number):
        raise _fail("buildID", wanted, value)
    return _stripped(text)


def validate_alias(alias: Any) -> str | None:
    """Check a rule alias and return it normalized (null when empty).

    Balrog's schema pattern ``(^[a-zA-Z][a-zA-Z0-9-]*$|^$)`` with
    ``maxLength: 50``: an alias starts with a letter, so it can never be taken
    for a numeric rule id (``Rules._isAlias`` relies on that).
    """
    text = _string("alias", alias, 50, ascii_only=False)
    if not text:
        return None
    if not _ALIAS_RE.match(text):
        raise _fail(
            "alias", "must start with a letter and contain only letters, digits and '-'", alias
        )
    return _stripped(text)


def _check_boolean(field: str) -> Callable[[Any], bool | None]:
    """``jaws`` / ``mig64``: JSON booleans or null; strings and 0/1 are refused."""

    def check(value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        raise _fail(field, "must be true, false or null", value)

    return check


def _check_text(field: str, max_length: int) -> Callable[[Any], str | None]:
    """A nullable ``format: ascii`` column with its ``maxLength``."""

    def check(value: Any) -> str | None:
        return _stripped(_string(field, value, max_length))

    return check


def _check_name(field: str, max_length: int) -> Callable[[Any], str | None]:
    """A text column whose value is also a URL segment (``domain.names``)."""

    def check(value: Any) -> str | None:
        text = _stripped(_string(field, value, max_length))
        return check_addressable(field, text) if text else text

    return check


def _check_csv(field: str, max_length: int) -> Callable[[Any], str | None]:
    """``locale`` / ``distribution``: like text, but all inner whitespace goes too,
    because Balrog matches each comma-separated entry exactly."""

    def check(value: Any) -> str | None:
        text = _string(field, value, max_length)
        if text is None:
            return None
        return _WHITESPACE_RE.sub("", text) or None

    return check


def _check_rule_id(value: Any) -> None:
    """Balrog's ``rule_id`` format (an integer >= 0); the value itself is dropped."""
    if _integer("rule_id", value, 0, None) is None:
        raise _fail("rule_id", "must be an integer >= 0", value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "alias": validate_alias,
    "priority": _check_priority,
    "mapping": _check_text("mapping", 100),
    "fallbackMapping": _check_text("fallbackMapping", 100),
    "backgroundRate": _check_background_rate,
    "update_type": _check_update_type,
    "product": _check_name("product", 15),
    "version": _version_checker(plain_lists=False),
    "channel": _check_name("channel", 75),
    "buildTarget": _check_text("buildTarget", 75),
    "buildID": _check_build_id,
    "locale": _check_csv("locale", 200),
    "osVersion": _check_text("osVersion", 1000),
    "memory": _check_text("memory", 100),
    "instructionSet": _check_text("instructionSet", 1000),
    "jaws": _check_boolean("jaws"),
    "mig64": _check_boolean("mig64"),
    "distribution": _check_csv("distribution", 2000),
    "distVersion": _check_text("distVersion", 100),
    "headerArchitecture": _check_text("headerArchitecture", 10),
    "comment": _check_text("comment", 500),
}

#: The same checks with the admin API's stricter reading of ``version``.
_ADMIN_CHECKS: dict[str, Callable[[Any], Any]] = {
    **_CHECKS,
    "version": _version_checker(plain_lists=True),
}

#: Columns that may not end up null. ``update_type`` is enforced by its check.
#: Balrog's ``POST /rules`` lists ``priority`` and ``backgroundRate`` as required
#: but its schema still lets an explicit null or "" through; its scheduled
#: insert path refuses them, and a null priority cannot be sorted when rules
#: are evaluated, so rulelog refuses them everywhere.
_NOT_NULL: dict[str, str] = {
    "priority": "is required and must be an integer >= 0",
    "backgroundRate": "is required and must be an integer between 0 and 100",
    "update_type": "is required and must be 'minor' or 'major'",
}


# ------------------------------------------------------------------ the API


def normalize_rule(
    fields: Mapping[str, Any], *, partial: bool = False, admin_api: bool = False
) -> dict[str, Any]:
    """Validate a rule's columns as Balrog would, and return them normalized.

    With ``partial=False`` (a whole rule: creation, import, the result of
    merging an update) the result has every column of :data:`RULE_COLUMNS`,
    absent ones as ``None``, and ``priority``, ``backgroundRate`` and
    ``update_type`` must be given. With ``partial=True`` (the changed subset of
    an update) only the given columns come back, but those three still may not
    be set to null.

    Two levels, because Balrog's admin API refuses some values that its stored
    rules nevertheless hold and its matcher evaluates (``fixture.json`` has
    both kinds):

    * by default, what a stored rule may be: every check of the admin API's
      schema except the two below, so imports and re-validation of a merged
      rule accept everything Balrog can serve;
    * ``admin_api=True`` adds what the admin API asks of a client's request:
      ``mapping`` is not null (on create, and on an update that names it;
      ``views/rules.py``) and a ``version`` list holds plain versions only
      (``version_validator``). Use it on the fields a client sends.

    Normalization is Balrog's: strings are stripped and empty ones become
    ``None``; whitespace inside ``locale`` and ``distribution`` is removed;
    ``priority`` and ``backgroundRate`` become ``int``. Normalizing a result
    again returns it unchanged.

    ``rule_id`` is accepted (an integer >= 0, as Balrog's schema allows), then
    dropped: ids belong to the caller. Any other key that is not a column,
    ``data_version`` included, is :class:`~domain.errors.Invalid`. Whether the
    mappings name existing releases, and whether the alias is free, are the
    caller's checks.

    Raises :class:`~domain.errors.Invalid` for the first problem found, with
    ``field`` set to the column at fault.
    """
    for key in fields:
        if key not in _CHECKS and key != "rule_id":
            name = key if isinstance(key, str) else str(key)
            raise Invalid(f"{name}: is not a rule column", field=name)
    if "rule_id" in fields:
        _check_rule_id(fields["rule_id"])
    checks = _ADMIN_CHECKS if admin_api else _CHECKS
    result: dict[str, Any] = {}
    for name, check in checks.items():
        if name in fields:
            value = check(fields[name])
        elif partial:
            continue
        else:
            value = None
        if value is None:
            if name in _NOT_NULL:
                raise _fail(name, _NOT_NULL[name], fields.get(name))
            if admin_api and name == "mapping":
                raise _fail(
                    "mapping", "must name a release, not be null or empty", fields.get(name)
                )
        result[name] = value
    return result
