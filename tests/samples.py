"""Sample data shared by tests: the smallest valid release blob and rule (for tests that
only need one to exist), and a real Firefox update request."""

from __future__ import annotations

from typing import Any


def empty_blob(name: str) -> dict[str, Any]:
    """A schema 1 blob with no platforms: valid, and serves nothing."""
    return {
        "name": name,
        "schema_version": 1,
        "appv": "1.0",
        "extv": "1.0",
        "hashFunction": "sha512",
        "platforms": {},
    }


def plain_rule(
    mapping: str, *, product: str = "Firefox", channel: str = "release", priority: int = 10
) -> dict[str, Any]:
    """A rule mapping every request of ``product`` on ``channel`` to ``mapping``."""
    return {
        "product": product,
        "channel": channel,
        "priority": priority,
        "backgroundRate": 100,
        "update_type": "minor",
        "mapping": mapping,
    }


#: Firefox 120 on 64-bit Windows 11, as its updater asks: ``.format(locale=, channel=)``.
FIREFOX_120_URL = (
    "/update/6/Firefox/120.0/20231116134553/WINNT_x86_64-msvc-x64/{locale}/{channel}/"
    "Windows_NT%2010.0.0.0.22631.2861%20(x64)/ISET:SSE4_2,MEM:16384/default/default/"
    "update.xml?force=1"
)
