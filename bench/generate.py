"""Generated Balrog snapshots of any size, built from the fixture's real blobs.

Each release is a copy of one of the fixture's blobs (cycled, so sizes and
blob types are realistic) under a new name; each rule is a plausible
Firefox rule mapping to one of those releases.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "fixture.json"
CHANNELS = ("release", "beta", "aurora", "nightly", "esr", "release-localtest", "release-cdntest")
OS_VERSIONS = (None, "Windows_NT 6.1", "Darwin 17.", "Linux", "Windows_NT 10.0")


def snapshot(rules: int, releases: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    templates = json.loads(FIXTURE.read_text())["releases"]
    made: list[dict[str, Any]] = []
    for index in range(releases):
        template = templates[index % len(templates)]
        name = f"{template['name']}-gen{index}"
        blob = copy.deepcopy(template["data"])
        blob["name"] = name
        made.append({"name": name, "product": template["product"], "data": blob})
    made_rules = []
    for rule_id in range(1, rules + 1):
        release = made[rng.randrange(len(made))]
        made_rules.append(
            {
                "rule_id": rule_id,
                "alias": f"rule-{rule_id}" if rule_id % 10 == 0 else None,
                "product": release["product"],
                "channel": rng.choice(CHANNELS),
                "priority": rng.randrange(1000),
                "mapping": release["name"],
                "backgroundRate": rng.choice((0, 25, 50, 100)),
                "update_type": "minor",
                "osVersion": rng.choice(OS_VERSIONS),
                "version": f"<{rng.randrange(60, 130)}.0",
                "comment": f"generated rule {rule_id}",
            }
        )
    return {"rules": made_rules, "releases": made}


def variant(template: dict[str, Any], name: str, build: int) -> dict[str, Any]:
    """The template's blob under ``name``, as build number ``build``.

    Nested structures are shared with the template (nothing mutates them), so
    holding thousands of releases costs little memory; the platforms' buildIDs
    differ from build to build, as a new nightly's do.
    """
    blob = {**template, "name": name}
    platforms = template.get("platforms")
    if isinstance(platforms, dict):
        stamp = f"2024{build:010d}"
        blob["platforms"] = {
            key: (
                {**entry, "buildID": stamp}
                if isinstance(entry, dict) and "buildID" in entry
                else entry
            )
            for key, entry in platforms.items()
        }
    return blob
