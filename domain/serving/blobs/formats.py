"""The two string formats Balrog's schemas enforce: ``version`` and ``buildID``.

Balrog registers them on its Draft 4 format checker
(auslib/util/jsonschema_validators.py); only apprelease v9 uses them. "uri" also
appears in Balrog's schemas but is never enforced there (its checker needs an
optional package Balrog does not install), so rulelog does not check it either.
Versions are parsed by ``domain.serving.versions``, as for serving.
"""

from __future__ import annotations

from jsonschema import FormatChecker

from rulelog.domain.errors import Invalid
from rulelog.domain.serving.versions import moz_version, split_operator


class FormatProblem(ValueError):
    """Why a string does not have the format its schema names."""


FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("version", raises=FormatProblem)
def is_version_expression(value: object) -> bool:
    """A version, ``<``/``>``/``<=``/``>=`` + version, ``X.*`` glob, or list of exact versions."""
    if not isinstance(value, str) or value == "":
        return True
    parts = value.split(",")
    for part in parts:
        parsed = split_operator(part)
        if parsed is None:
            raise FormatProblem(f"no version or comparison found in {part!r}")
        op, operand = parsed
        if len(parts) > 1 and op != "=":
            raise FormatProblem("a list of versions may only hold exact versions")
        try:
            moz_version(operand)
        except Invalid:
            raise FormatProblem(f"{operand!r} is not a Mozilla version") from None
    return True


@FORMAT_CHECKER.checks("buildID", raises=FormatProblem)
def is_build_id_expression(value: object) -> bool:
    """A buildID number, optionally preceded by a comparison operator."""
    if not isinstance(value, str) or value == "":
        return True
    if split_operator(value) is None:
        raise FormatProblem(f"no buildID or comparison found in {value!r}")
    try:
        int(value.lstrip("<>="))
    except ValueError:
        raise FormatProblem("the buildID must be an integer") from None
    return True
