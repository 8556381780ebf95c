"""One word per kind on the command line.

The documented words are the short singular ones ``rulelog changes --kind``
uses (``rule``, ``release``, ``shutoff``, ``pin``, ``permission``); the
commands over scheduled changes accept them and also Balrog's admin-API
names (``rules``, ``emergency_shutoff``, ...), which are what they store and
print, so a word from either vocabulary works everywhere.
"""

from __future__ import annotations

from typing import Any

import click

from rulelog.domain.workflow.scheduling import KINDS

#: The documented word -> the scheduled-change kind (Balrog's admin-API name).
SC_WORDS: dict[str, str] = {
    "rule": "rules",
    "release": "releases",
    "shutoff": "emergency_shutoff",
    "pin": "pinnable_releases",
    "permission": "permissions",
    "required_signoffs/product": "required_signoffs/product",
    "required_signoffs/permissions": "required_signoffs/permissions",
}
assert set(SC_WORDS.values()) == set(KINDS), "every scheduled-change kind has one word"


class ScKind(click.Choice):
    """A scheduled-change kind: the documented word or Balrog's name, as Balrog's name."""

    name = "kind"

    def __init__(self) -> None:
        super().__init__(list(SC_WORDS))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value in KINDS:
            return value
        return SC_WORDS[super().convert(value, param, ctx)]


SC_KIND = ScKind()
