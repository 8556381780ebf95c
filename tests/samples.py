"""The smallest valid release blob and rule, shared by tests that only need one to exist."""

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
