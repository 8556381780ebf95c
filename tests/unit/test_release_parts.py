"""A blob splits into a base and per-locale parts, and composes back (Balrog v2's split)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.catalog.release_parts import base_of, compose, parts_of
from rulelog.domain.catalog.releases import Release, apply_parts, next_part_versions

names = st.text("abcdefgh-_", min_size=1, max_size=6)
leaf = st.dictionaries(names, st.one_of(st.integers(), names), max_size=3)
platform = st.fixed_dictionaries(
    {}, optional={"locales": st.dictionaries(names, leaf, min_size=1, max_size=4), "alias": names}
)
blobs = st.fixed_dictionaries(
    {"name": names, "schema_version": st.integers(1, 9)},
    optional={"platforms": st.dictionaries(names, platform, max_size=4), "appVersion": names},
)


def canonical(blob: dict[str, Any]) -> dict[str, Any]:
    """Balrog has no row for an empty platform or an empty locales object."""
    platforms = {
        p: {k: v for k, v in e.items() if k != "locales" or v}
        for p, e in (blob.get("platforms") or {}).items()
    }
    platforms = {p: e for p, e in platforms.items() if e}
    out = {k: v for k, v in blob.items() if k != "platforms"}
    return out | ({"platforms": platforms} if platforms else {})


@given(blobs)
def test_base_and_parts_compose_back_to_the_blob(blob: dict[str, Any]) -> None:
    assert compose(base_of(blob), parts_of(blob)) == canonical(blob)
    assert not any("locales" in e for e in (base_of(blob).get("platforms") or {}).values())


@given(blobs, names, leaf)
def test_setting_a_part_changes_only_that_part(
    blob: dict[str, Any], locale: str, data: Any
) -> None:
    key = f".platforms.P.locales.{locale}"
    new = apply_parts(blob, None, {key: data})
    assert parts_of(new)[("platforms", "P", "locales", locale)] == data
    others = {p: d for p, d in parts_of(new).items() if p != ("platforms", "P", "locales", locale)}
    assert others == {
        p: d for p, d in parts_of(blob).items() if p != ("platforms", "P", "locales", locale)
    }
    assert base_of(new) == base_of(blob) or "P" not in (blob.get("platforms") or {})


def test_part_versions_follow_v1_and_v2_writes() -> None:
    blob = {"name": "R", "schema_version": 1, "platforms": {"p": {"locales": {"de": {"b": 1}}}}}
    release = Release(name="R", product="Firefox", blob=blob, read_only=False, changed_by="a")
    assert release.part_versions == {".": 1, ".platforms.p.locales.de": 1}
    release.change_parts("Firefox", None, {".platforms.p.locales.fr": {"b": 2}}, "a")
    release.replace_blob(
        "Firefox", apply_parts(release.blob, None, {".platforms.p.locales.de": {"b": 3}}), "a"
    )
    assert release.part_versions == {
        ".": 1,
        ".platforms.p.locales.de": 2,
        ".platforms.p.locales.fr": 1,
    }
    assert release.data_version == 3
    assert next_part_versions({".": 4}, {"name": "R"}, {"name": "S"}) == {".": 5}
