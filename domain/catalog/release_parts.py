"""A release blob as Balrog's admin API v2 sees it: a base and per-locale parts.

Balrog v2 stores each ``platforms.<platform>.locales.<locale>`` entry of an
app-release blob as its own row with its own ``data_version`` and the rest
(the *base*, path ``"."``) as another. Clients name a part by its path in a
nested ``data_versions`` object (``{".": 3, "platforms": {"linux": {"locales":
{"de": 2}}}}``) or, on ``/{path}/data_version``, by the dotted string
``.platforms.linux.locales.de``. These functions split, merge and compare
blobs along those lines; they are pure so the aggregate, the service and the
projections share one definition of "a part".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

BASE = "."

Path = tuple[str, ...]


def is_split(blob: Mapping[str, Any]) -> bool:
    """Every blob schema Balrog knows splits by locale (schemas 1-9), others stay whole."""
    return not isinstance(blob.get("schema_version"), int) or 1 <= blob["schema_version"] <= 9


def parts_of(blob: Mapping[str, Any]) -> dict[Path, Any]:
    """``{("platforms", p, "locales", l): data}`` for every locale entry."""
    out: dict[Path, Any] = {}
    platforms = blob.get("platforms")
    if not is_split(blob) or not isinstance(platforms, Mapping):
        return out
    for platform, entry in platforms.items():
        locales = entry.get("locales") if isinstance(entry, Mapping) else None
        if isinstance(locales, Mapping):
            for locale, data in locales.items():
                out[("platforms", platform, "locales", locale)] = data
    return out


def base_of(blob: Mapping[str, Any]) -> dict[str, Any]:
    """The blob without its locale entries (Balrog keeps a platform that only has
    locales out of the base: it comes back with its locales)."""
    if not is_split(blob):
        return copy.deepcopy(dict(blob))
    base: dict[str, Any] = {}
    for key, value in blob.items():
        if key != "platforms" or not isinstance(value, Mapping):
            base[key] = copy.deepcopy(value)
            continue
        platforms: dict[str, Any] = {}
        for platform, entry in value.items():
            if not isinstance(entry, Mapping):
                platforms[platform] = copy.deepcopy(entry)
                continue
            rest = {k: copy.deepcopy(v) for k, v in entry.items() if k != "locales"}
            if rest:
                platforms[platform] = rest
        if platforms:
            base["platforms"] = platforms
    return base


def compose(base: Mapping[str, Any], parts: Mapping[Path, Any]) -> dict[str, Any]:
    """The whole blob from its base and parts (``base_of``/``parts_of`` inverted)."""
    blob = copy.deepcopy(dict(base))
    for path, data in sorted(parts.items()):
        set_path(blob, path, copy.deepcopy(data))
    return blob


def set_path(root: dict[str, Any], path: Path, value: Any) -> None:
    node = root
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def get_path(root: Any, path: Path) -> Any:
    """The value at ``path``, or None where any step is missing (Balrog's get_by_path)."""
    node = root
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def dotted(path: Path) -> str:
    return "." + ".".join(path)


def parse_dotted(text: str) -> Path:
    return tuple(p for p in text.split(".") if p)


def deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Balrog's ``release_merger``: dicts merge key by key, anything else is replaced."""
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def nested(flat: Mapping[Path, Any], base: Any = None) -> dict[str, Any]:
    """``{".": base, "platforms": {...}}`` from flat ``{path: value}``."""
    out: dict[str, Any] = {} if base is None else {BASE: base}
    for path, value in sorted(flat.items()):
        set_path(out, path, value)
    return out


def apply_parts(
    blob: dict[str, Any], base: dict[str, Any] | None, parts: dict[str, Any]
) -> dict[str, Any]:
    """The whole blob after a ``PartsChanged`` (the aggregate's and every reader's).

    Copy-on-write along each changed path: a nightly's blob holds hundreds of
    locales and replaying its stream must not copy all of them per event.
    """
    new = compose(base, parts_of(blob)) if base is not None else dict(blob)
    for key, data in parts.items():
        path = parse_dotted(key)
        nodes = [new]
        for step in path[:-1]:
            child = nodes[-1].get(step)
            child = dict(child) if isinstance(child, dict) else {}
            nodes[-1][step] = child
            nodes.append(child)
        if data is not None:
            nodes[-1][path[-1]] = data
            continue
        nodes[-1].pop(path[-1], None)
        for depth in range(len(path) - 1, 0, -1):  # prune what the removal left empty
            if nodes[depth]:
                break
            nodes[depth - 1].pop(path[depth - 1], None)
    return new
