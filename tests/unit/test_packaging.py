"""The wheel holds every package of the checkout, all under the one name ``rulelog``.

``pyproject.toml`` lists the packages by hand (each layer folder maps to
``rulelog.<layer>``), so a new subpackage that is not listed would work in the
editable checkout and be missing from an installed wheel. This test keeps the
list equal to the folders.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def folder_of(package: str) -> Path:
    """Where ``package`` lives in the checkout, by the longest package-dir mapping."""
    mapping: dict[str, str] = SETUPTOOLS["package-dir"]
    prefix = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len)
    rest = package[len(prefix) :].lstrip(".")
    return ROOT / mapping[prefix] / Path(*rest.split(".")) if rest else ROOT / mapping[prefix]


def test_every_package_is_under_rulelog_and_exists() -> None:
    packages: list[str] = SETUPTOOLS["packages"]
    assert all(p == "rulelog" or p.startswith("rulelog.") for p in packages)
    missing = [p for p in packages if not (folder_of(p) / "__init__.py").is_file()]
    # The schemas folder holds only JSON files (package data), no __init__.py.
    assert [p for p in missing if not p.endswith(".schemas")] == []


def test_every_folder_with_modules_is_listed() -> None:
    packages = set(SETUPTOOLS["packages"])
    listed = {folder_of(p).resolve() for p in packages}
    for top in SETUPTOOLS["package-dir"].values():
        for init in (ROOT / top).rglob("__init__.py"):
            assert init.parent.resolve() in listed, f"{init.parent} is not in pyproject packages"
