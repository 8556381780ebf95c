"""The layers import downward only, and only ``adapters`` and ``services`` touch the store.

domain ← projections ← services ← api, with adapters (store internals) used by
services alone. A module that imports upward, or an interface that reaches into the
event store's tables, is how business rules leak to the edges; this test reads every
module's imports (including those inside functions and ``TYPE_CHECKING`` blocks) so
such an import fails here, with the module and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: For each layer: module prefixes it must not import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # The pure model: aggregates (eventsourcing.domain) and functions, no I/O.
    "domain": (
        "rulelog.projections",
        "rulelog.services",
        "rulelog.adapters",
        "rulelog.api",
        "eventsourcing.application",
        "eventsourcing.persistence",
        "eventsourcing_sqlalchemy",
        "sqlalchemy",
    ),
    "projections": ("rulelog.services", "rulelog.adapters", "rulelog.api"),
    "adapters": ("rulelog.services", "rulelog.api", "rulelog.projections"),
    "services": ("rulelog.api",),
    # Interfaces parse and render; they reach the store only through services.
    "api": ("rulelog.adapters", "eventsourcing_sqlalchemy", "sqlalchemy.orm", "sqlalchemy.sql"),
}

#: ``sqlalchemy`` names an interface may use: URL parsing and error types, not queries.
API_SQLALCHEMY_ALLOWED = ("sqlalchemy.engine", "sqlalchemy.exc")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line number."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
    return found


def violations(layer: str) -> list[str]:
    out: list[str] = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            banned = [p for p in FORBIDDEN[layer] if module == p or module.startswith(p + ".")]
            querying = module == "sqlalchemy" or (
                module.startswith("sqlalchemy.") and not module.startswith(API_SQLALCHEMY_ALLOWED)
            )
            if layer == "api" and querying:
                banned.append("sqlalchemy (queries)")
            if banned:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downward(layer: str) -> None:
    assert (ROOT / layer).is_dir()
    assert violations(layer) == []


def test_relative_imports_are_not_used() -> None:
    """Absolute ``rulelog.*`` imports keep every module's layer readable at a glance."""
    relative = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for layer in FORBIDDEN
        for path in sorted((ROOT / layer).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The walk finds imports nested in functions and TYPE_CHECKING blocks."""
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from rulelog.api.cli import main\n"
        "def f():\n    import rulelog.services.application\n"
    )
    names = [name for _, name in imported_modules(module)]
    assert "rulelog.api.cli" in names
    assert "rulelog.services.application" in names
