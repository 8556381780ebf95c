"""Balrog's split (admin API v2) releases, read as rulelog releases (pure).

Balrog v2 keeps a release as a base row (``releases_json``: name, product,
read_only, the blob without its locales, ``data_version``) and one
``release_assets`` row per locale (``path`` ``.platforms.<p>.locales.<l>``,
the locale's data, its own ``data_version``). Whoever reads a release (the
public app, ``GET /releases/<name>``, the v2 API) assembles it as
``services.releases.get_release`` does: the base with each asset set at its
path; a name that is also in the old ``releases`` table is served from
``releases_json`` (the old row is only a fallback).

Their history is kept in cloud storage, not in the database, so a v2 release
is imported as its current state at the earliest imported time, and its
per-part data_versions are reached with ``Release.PartsChanged`` events that
change nothing (as a data_version gap of any other row is filled): each such
event moves every part that is still short by one, so the release's own
(aggregate) data_version ends at the highest of its parts' data_versions.

Pending v2 scheduled changes (a base change in
``releases_json_scheduled_changes``, per-locale ones in
``release_assets_scheduled_changes``, each with its own id, ``when`` and
signoffs) become one rulelog scheduled release change per release, as
rulelog's own v2 writes schedule them: its row is the whole blob they would
leave, its id the next of rulelog's release scheduled changes (Balrog's ids
of the three tables overlap), its signoffs those all of its parts carry
(Balrog's v2 signoff signs every part at once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rulelog.domain import ids
from rulelog.domain.balrog.replay import BalrogReplay, blob_digest
from rulelog.domain.balrog.rows import HistoryRow, is_keys_only, json_column, ms_to_datetime
from rulelog.domain.catalog.release_parts import (
    BASE,
    base_of,
    compose,
    dotted,
    parse_dotted,
    parts_of,
)
from rulelog.domain.catalog.releases import Release
from rulelog.domain.errors import Invalid
from rulelog.domain.sequence import Sequence
from rulelog.domain.workflow.scheduling import PendingTarget

BASE_TABLE = "releases_json"
ASSETS_TABLE = "release_assets"
SC_TABLES = (f"{BASE_TABLE}_scheduled_changes", f"{ASSETS_TABLE}_scheduled_changes")
#: The table name a merged pending v2 change is replayed under (one row per release).
MERGED_SC = SC_TABLES[0]


def assemble(base: Mapping[str, Any], assets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``releases_json`` row and its ``release_assets`` rows as one release row:
    the assembled blob in ``data`` and every part's data_version in ``part_versions``
    (``{".": 3, ".platforms.p.locales.l": 2}``). Errors name the row and the field."""
    name = base.get("name")
    label = f"{BASE_TABLE} (current row name={name!r})"
    try:
        data = json_column(base.get("data"), "data")
    except Invalid as error:
        raise Invalid(f"{label}: {error.message}", field="data") from None
    if not isinstance(data, dict):
        raise Invalid(f"{label}: data: a release's base must be a JSON object", field="data")
    parts: dict[tuple[str, ...], Any] = {}
    versions: dict[str, Any] = {BASE: base.get("data_version")}
    for asset in assets:
        path = str(asset.get("path"))
        try:
            parts[parse_dotted(path)] = json_column(asset.get("data"), "data")
        except Invalid as error:
            where = f"{ASSETS_TABLE} (current row name={name!r}, path={path!r})"
            raise Invalid(f"{where}: {error.message}", field="data") from None
        versions[dotted(parse_dotted(path))] = asset.get("data_version")
    return {
        "name": base.get("name"),
        "product": base.get("product"),
        "read_only": bool(base.get("read_only") or False),
        "data": compose(data, parts),
        "part_versions": versions,
    }


def comparable(values: Mapping[str, Any], digest: str) -> dict[str, Any]:
    """What ``--verify`` compares of a v2 release (its blob by ``digest``)."""
    return {
        "product": values["product"],
        "read_only": values["read_only"],
        "blob_sha": digest,
        "data_versions": dict(values["part_versions"]),
    }


def merge_pending(
    name: str,
    current: Mapping[str, Any] | None,
    base_sc: Mapping[str, Any] | None,
    asset_scs: list[Mapping[str, Any]],
    signoffs: Mapping[tuple[str, int], Mapping[str, str]],
) -> tuple[dict[str, Any] | None, list[str]]:
    """One release's pending v2 changes as one scheduled release change's row
    (the columns of ``releases_scheduled_changes`` plus ``signoffs`` and
    ``sources``), and what the merge had to decide; None if there is no release
    to change (asset changes of a release that is nowhere)."""
    notes: list[str] = []
    sources = [(SC_TABLES[0], base_sc)] if base_sc is not None else []
    sources += [(SC_TABLES[1], sc) for sc in asset_scs]
    labels = [f"{t} sc_id {sc['sc_id']}" for t, sc in sources]
    if current is None and (base_sc is None or base_sc.get("change_type") != "insert"):
        return None, [f"{name}: {', '.join(labels)}: no release to change"]
    whens = sorted({int(sc["when"]) for _, sc in sources if sc.get("when") is not None})
    if not whens:
        return None, [f"{name}: {', '.join(labels)}: no time to enact at"]
    if len(whens) > 1:
        notes.append(f"{name}: parts scheduled at different times; merged at the latest")
    signed = [dict(signoffs.get((t, int(sc["sc_id"])), {})) for t, sc in sources]
    common = {u: r for u, r in signed[0].items() if all(s.get(u) == r for s in signed[1:])}
    if any(s != common for s in signed):
        notes.append(f"{name}: parts signed off differently; kept the signoffs all parts have")
    values: dict[str, Any] = {
        "scheduled_by": sources[0][1].get("scheduled_by"),
        "complete": False,
        "base_name": name,
        "when": whens[-1],
        "data_version": 1,
        "signoffs": common,
        "sources": labels,
    }
    if base_sc is not None and base_sc.get("change_type") == "delete":
        return {**values, "change_type": "delete"}, notes
    blob = dict(current["data"]) if current is not None else {}
    base = base_of(blob)
    if base_sc is not None:
        base = json_column(base_sc.get("base_data"), "base_data")
    parts = dict(parts_of(blob))
    for sc in asset_scs:
        path = parse_dotted(str(sc.get("base_path")))
        if sc.get("change_type") == "delete":
            parts.pop(path, None)
        else:
            parts[path] = json_column(sc.get("base_data"), "base_data")
    first = base_sc if base_sc is not None else {}
    return {
        **values,
        "change_type": "update" if current is not None else "insert",
        "base_product": first.get("base_product") or (current or {}).get("product"),
        "base_read_only": bool(
            first.get("base_read_only")
            if first.get("base_read_only") is not None
            else (current or {}).get("read_only")
        ),
        "base_data": compose(base or {}, parts),
    }, notes


def bump_steps(versions: Mapping[str, int]) -> list[tuple[bool, list[str]]]:
    """The no-change ``PartsChanged`` events that take a new release (every part at 1)
    to ``versions``: per event, whether it moves the base and which parts."""
    base = int(versions.get(BASE) or 1)
    parts = {k: int(v or 1) for k, v in versions.items() if k != BASE}
    top = max([base, *parts.values()])
    return [
        (step < base, sorted(k for k, v in parts.items() if step < v)) for step in range(1, top)
    ]


class V2Replay(BalrogReplay):
    """``BalrogReplay`` that also imports v2 releases and their pending changes.

    Rows: ``releases_json`` rows are ``assemble``d releases; ``releases_json_
    scheduled_changes`` rows are ``merge_pending`` results (one per release).
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        #: release name -> what ``--verify`` compares (kept: blobs are dropped)
        self.v2_releases: dict[str, dict[str, Any]] = {}
        #: rulelog scheduled release change id -> the v2 changes it merges
        self.v2_scheduled: dict[int, dict[str, Any]] = {}

    def _releases_json(self, row: HistoryRow) -> None:
        values, by = row.values, row.changed_by
        if is_keys_only(BASE_TABLE, values):
            return self._releases(row)  # gone from Balrog (a catch-up): a deletion
        name = str(values.get("name"))
        release = self.get(ids.release_id(name), Release)
        product = values.get("product")
        if not isinstance(product, str) or not product:
            raise self._fail(f"not a product: {product!r}", "product")
        blob = values.get("data")
        if not isinstance(blob, dict) or blob.get("name") != name:
            got = blob.get("name") if isinstance(blob, dict) else blob
            raise self._fail(f"the blob names {got!r}, not {name!r}", "data")
        versions = values["part_versions"]
        for key, version in versions.items():
            if not isinstance(version, int) or version < 1:
                raise self._fail(f"{key}: not a positive integer: {version!r}", "data_version")
        read_only = bool(values.get("read_only"))
        kw = {"product": product, "blob": blob, "read_only": read_only, "changed_by": by}
        if release is None:
            release = self._create(Release, Release.Created, name=name, **kw)
        elif release.deleted:
            self._emit(release, Release.Recreated, **kw)
        elif any(v < release.part_versions.get(k, 0) for k, v in versions.items()):
            # A part went back: the release was deleted and created again meanwhile.
            self._emit(release, Release.Deleted, changed_by=by)
            self._emit(release, Release.Recreated, **kw)
        else:
            return self._catch_up(release, values, by)
        base, parts = base_of(blob), {dotted(p): d for p, d in parts_of(blob).items()}
        steps = bump_steps(versions)
        for moves_base, keys in steps:
            self._emit(
                release,
                Release.PartsChanged,
                product=product,
                base=base if moves_base else None,
                parts={k: parts.get(k) for k in keys},
                changed_by=by,
            )
        if steps:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v > 1)
            self.report.gaps.append(f"{row.label}: data_versions {shown} (history missing)")
        self.release_digests[name] = digest = blob_digest(blob)
        self.v2_releases[name] = comparable(values, digest)

    def _catch_up(self, release: Release, values: Mapping[str, Any], by: str) -> None:
        """A stored v2 release brought to Balrog's current row (``--since-last``):
        each part moves on to its data_version, the last event carrying the data."""
        blob, versions = values["data"], dict(values["part_versions"])
        if bool(values["read_only"]) != release.read_only:
            self._emit(
                release,
                Release.ReadOnlyChanged,
                read_only=bool(values["read_only"]),
                changed_by=by,
            )
        deltas = {k: v - release.part_versions.get(k, 0) for k, v in versions.items()}
        removed = sorted(k for k in release.part_versions if k not in versions)
        top = max([*deltas.values(), 1 if removed else 0])
        base, parts = base_of(blob), {dotted(p): d for p, d in parts_of(blob).items()}
        for step in range(1, top + 1):
            moved = {k for k, d in deltas.items() if step > top - d}
            change = {k: parts.get(k) for k in sorted(moved - {BASE})}
            if step == top:
                change.update(dict.fromkeys(removed))
            self._emit(
                release,
                Release.PartsChanged,
                product=values["product"],
                base=base if BASE in moved else None,
                parts=change,
                changed_by=by,
            )
        self.release_digests[release.name] = digest = blob_digest(blob)
        self.v2_releases[release.name] = comparable(values, digest)

    def _scheduled(self, row: HistoryRow) -> None:
        if row.table == MERGED_SC:
            return self._v2_pending(row)
        return super()._scheduled(row)

    def _v2_pending(self, row: HistoryRow) -> None:
        """A release's pending v2 changes, merged: one scheduled release change."""
        values, by = row.values, row.changed_by
        name = str(values.get("base_name"))
        lock = self.get(ids.pending_target_id("releases", name), PendingTarget)
        if lock is not None and lock.sc_id is not None:
            self.report.skipped[
                f"{MERGED_SC}: pending v2 change of {name}, which has a pending "
                f"releases_scheduled_changes {lock.sc_id} (rulelog keeps one per release)"
            ] += 1
            return
        sequence = self.get(ids.sequence_id("sc:releases"), Sequence)
        sc_id = (sequence.value if sequence is not None else 0) + 1
        release = self.get(ids.release_id(name), Release)
        live = release is not None and not release.deleted
        change = {k: v for k, v in values.items() if k not in ("signoffs", "sources", "base_name")}
        change.update(
            sc_id=sc_id,
            base_name=name,
            base_data_version=release.data_version if live and release else None,
        )
        if live and change["change_type"] == "insert":
            # A v2 insert of a name only the old table has: in Balrog the new
            # releases_json row takes over the name, here the one release changes.
            change["change_type"] = "update"
        super()._scheduled(
            HistoryRow("releases_scheduled_changes", None, by, row.timestamp, change)
        )
        for username, role in sorted(values.get("signoffs", {}).items()):
            signoff = {"sc_id": sc_id, "username": username, "role": role}
            self._signoff(
                HistoryRow(
                    "releases_scheduled_changes_signoffs", None, username, row.timestamp, signoff
                )
            )
        self.v2_scheduled[sc_id] = {
            "name": name,
            "from": list(values.get("sources", [])),
            "when": ms_to_datetime(int(values["when"])).isoformat(),
        }
