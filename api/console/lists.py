"""Read-only lists: required signoffs and test-channel mappings.

One table each, from the page's state, through one template (``table.html``):
a list is its title, its columns and a function from the state to its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from rulelog.api.console.caller import who
from rulelog.api.console.moment import moment_of, state_of
from rulelog.api.console.render import page
from rulelog.projections.state import Catalog

router = APIRouter()

Rows = Callable[[Catalog], list[dict[str, Any]]]


def _policies(state: Catalog) -> list[dict[str, Any]]:
    return [
        {"kind": kind, **row}
        for kind in ("product", "permissions")
        for row in state.policies[kind].values()
    ]


#: path -> (title, columns, rows): every list page.
LISTS: dict[str, tuple[str, tuple[str, ...], Rows]] = {
    "/signoffs": (
        "Required signoffs",
        ("kind", "product", "channel", "permission", "role", "signoffs_required", "data_version"),
        _policies,
    ),
    "/channel-maps": (
        "Test-channel mappings",
        ("test", "live"),
        lambda s: [{"test": t, "live": live} for t, live in sorted(s.test_channels.items())],
    ),
}


def _register(path: str, title: str, columns: tuple[str, ...], rows_of: Rows) -> None:
    def list_page(request: Request) -> Any:
        moment = moment_of(request)
        who(request)
        with state_of(request, moment) as state:
            rows = rows_of(state)
            return page(
                request, "table.html", moment=moment, title=title, columns=columns, rows=rows
            )

    router.add_api_route(path, list_page, methods=["GET"], summary=title)


for _path, (_title, _columns, _rows) in LISTS.items():
    _register(_path, _title, _columns, _rows)
