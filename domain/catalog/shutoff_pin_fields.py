"""Field validation for emergency shutoffs and pinnable releases, as pure functions.

Both tables are small (``auslib.db.EmergencyShutoffs`` and
``auslib.db.PinnableReleasesTable`` in ``mozilla-releng/balrog``), and Balrog
stores their values exactly as sent: unlike rules, nothing is stripped or
turned into null. The limits come from the schemas ``EmergencyShutOffModel``
and ``PinnableReleaseModel`` in ``src/auslib/web/common/swagger/definitions.yml``
(``format: ascii``, ``minLength`` 1 for the key columns), which match the
``String(n)`` lengths and ``nullable=False`` of the tables.

Checks that need other state (an existing shutoff or pin, the pin's mapping
naming a release, permissions) belong to the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rulelog.domain.catalog.names import check_addressable
from rulelog.domain.errors import Invalid

__all__ = ["PIN_FIELDS", "SHUTOFF_FIELDS", "normalize_pin", "normalize_shutoff"]

#: Columns of ``emergency_shutoffs``, in Balrog's order.
SHUTOFF_FIELDS: tuple[str, ...] = ("product", "channel", "comment")

#: Columns of ``pinnable_releases``, in Balrog's order.
PIN_FIELDS: tuple[str, ...] = ("product", "version", "channel", "mapping")

#: The only pins Balrog can ever find: ``AUS.py`` looks a pin up by
#: ``str(PinVersion(pin))``, and ``PinVersion`` (``versions.py``) parses
#: ``X.`` or ``X.Y.`` and prints its numbers back as plain integers. So the
#: stored version must be that canonical text: no leading zeros, no spaces.
_PIN_VERSION_RE = re.compile(r"(?:0|[1-9][0-9]*)\.(?:(?:0|[1-9][0-9]*)\.)?")


def _shown(value: Any) -> str:
    """``repr`` cut short, so an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(field: str, value: Any, max_length: int, *, required: bool) -> str | None:
    """A ``format: ascii`` string column with Balrog's length limits.

    Required columns are the primary-key (and ``mapping``) columns, which
    Balrog declares ``nullable=False`` with ``minLength: 1``.
    """
    if value is None:
        if required:
            raise Invalid(f"{field}: is required, got None", field=field, value=value)
        return None
    if not isinstance(value, str):
        wanted = "a string" if required else "a string or null"
        raise Invalid(f"{field}: must be {wanted}, got {_shown(value)}", field=field, value=value)
    if required and not value:
        raise Invalid(f"{field}: must not be empty, got ''", field=field, value=value)
    if len(value) > max_length:
        raise Invalid(
            f"{field}: must be at most {max_length} characters, got {len(value)}",
            field=field,
            value=value,
        )
    if not value.isascii():
        raise Invalid(f"{field}: must be ASCII, got {_shown(value)}", field=field, value=value)
    return value


def _name(field: str, value: Any, max_length: int) -> str:
    """A required column that is also a URL segment (``domain.names``)."""
    return check_addressable(field, _text(field, value, max_length, required=True) or "")


def _reject_unknown(fields: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    """Refuse keys that are not columns, so typos do not vanish silently."""
    for key in fields:
        if key not in known:
            name = key if isinstance(key, str) else str(key)
            raise Invalid(f"{name}: is not a column of {what}", field=name)


def normalize_shutoff(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an emergency shutoff and return ``product``, ``channel``, ``comment``.

    ``product`` (1-15 ASCII characters) and ``channel`` (1-75) are required;
    ``comment`` (up to 500) is optional and comes back as ``None`` when absent.
    Values are returned as given, since Balrog stores them unaltered. Raises
    :class:`~domain.errors.Invalid` naming the first bad field.
    """
    _reject_unknown(fields, SHUTOFF_FIELDS, "an emergency shutoff")
    return {
        "product": _name("product", fields.get("product"), 15),
        "channel": _name("channel", fields.get("channel"), 75),
        "comment": _text("comment", fields.get("comment"), 500, required=False),
    }


def normalize_pin(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a pinnable release and return ``product``, ``version``, ``channel``, ``mapping``.

    All four are required ASCII strings (product 1-15, version 1-75, channel
    1-75, mapping 1-100 characters). ``version`` must also be a canonical pin,
    ``X.`` or ``X.Y.`` such as ``120.`` or ``120.1.``. Balrog's
    ``PUT /releases/{name}/pinnable`` only asks for a string there, but any
    other text can never be matched by an update request, so rulelog refuses
    it rather than store a pin that silently does nothing. Whether ``mapping``
    names an existing release is the caller's check. Raises
    :class:`~domain.errors.Invalid` naming the first bad field.
    """
    _reject_unknown(fields, PIN_FIELDS, "a pinnable release")
    product = _name("product", fields.get("product"), 15)
    version = _text("version", fields.get("version"), 75, required=True)
    if not _PIN_VERSION_RE.fullmatch(version or ""):
        raise Invalid(
            f"version: must be a pin like '120.' or '120.1.' (digits, no leading zeros), "
            f"got {_shown(version)}",
            field="version",
            value=version,
        )
    channel = _name("channel", fields.get("channel"), 75)
    mapping = _text("mapping", fields.get("mapping"), 100, required=True)
    return {"product": product, "version": version, "channel": channel, "mapping": mapping}
