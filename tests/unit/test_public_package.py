"""The public app's modules import one another downward only: no cycle (issue #11)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import rulelog.api.public

PACKAGE = "rulelog.api.public"


def _imports_within(path: Path) -> set[str]:
    """The package's modules ``path`` imports (``TYPE_CHECKING`` imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            if node.module == PACKAGE:
                found |= {f"{PACKAGE}.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def test_the_public_package_has_no_import_cycle() -> None:
    folder = Path(rulelog.api.public.__file__).parent
    graph = {
        f"{PACKAGE}.{path.stem}": _imports_within(path) - {f"{PACKAGE}.{path.stem}"}
        for path in folder.glob("*.py")
        if path.stem != "__init__"
    }
    assert len(graph) > 5
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises on a cycle
    assert order.index(f"{PACKAGE}.app") > order.index(f"{PACKAGE}.server")
