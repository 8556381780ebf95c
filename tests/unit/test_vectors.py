"""Every recorded Balrog answer in tests/data/expected.jsonl, replayed in-process.

Compatibility as defined by the vectors' README: equal status; for 200 the
exact body, content type and Rule-ID; where Balrog crashed (500) rulelog
serves no update (200, empty ``<updates>``) and reports a problem; where
Balrog answered 400 parsing or evaluation raises ``Invalid``; Balrog's 404
is either the JSON "no update" answer or a path no route serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rulelog.domain.errors import Invalid, RulelogError
from rulelog.domain.serving.blobs.render import EMPTY_UPDATES
from rulelog.domain.serving.evaluate import Response, SnapshotView, evaluate, route_not_found
from rulelog.domain.serving.request import RouteNotFound, UpdateRequest, parse, parse_url

DATA = Path(__file__).resolve().parents[1] / "data"
VECTORS = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
# Endpoints the HTTP layer serves itself; the domain only has to refuse them.
HTTP_ONLY = {"/__lbheartbeat__", "/__heartbeat__", "/robots.txt"}


@pytest.fixture(scope="module")
def view() -> SnapshotView:
    return SnapshotView.from_snapshot(json.loads((DATA / "fixture.json").read_text()))


def answer(vector: dict[str, Any], view: SnapshotView, roll: int = 0) -> Response:
    """Parse and evaluate like the HTTP layer will (errors propagate)."""
    try:
        request = parse_url(vector["url"], vector.get("headers"))
    except RouteNotFound as error:
        return route_not_found(error)
    return evaluate(request, view, rng=lambda: roll)


def _id(index: int, vector: dict[str, Any]) -> str:
    return f"{index}-{vector.get('note') or 'vector'}".replace(" ", "_")


@pytest.mark.parametrize("vector", VECTORS, ids=[_id(i, v) for i, v in enumerate(VECTORS)])
def test_vector(vector: dict[str, Any], view: SnapshotView) -> None:
    status = vector["status"]
    if vector["url"] in HTTP_ONLY:
        with pytest.raises(RouteNotFound) as caught:
            parse_url(vector["url"])
        assert not caught.value.update_path
        return
    if status == 400:
        with pytest.raises(Invalid) as caught:
            answer(vector, view)
        assert str(caught.value)
        return
    response = answer(vector, view)
    if status == 500:
        assert response.status == 200
        assert response.body in (EMPTY_UPDATES, "{}")
        assert response.problem
        return
    assert response.status == status
    assert response.problem is None
    if status == 200:
        assert response.body == vector["body"]
        assert response.content_type == vector["content_type"]
        assert response.headers.get("Rule-ID") == vector["rule_id"]
        assert response.headers.get("Rule-Data-Version") == vector["rule_data_version"]
        # Recorded answers never depend on the dice (rates are 0/100 or forced).
        assert answer(vector, view, roll=99) == response


def test_every_vector_is_loaded() -> None:
    assert len(VECTORS) == 228


# --- parse never fails with anything but a domain error ---------------------

_segment = st.text(min_size=1, max_size=20)
_route_shapes = {
    "update/1": 6,
    "update/2": 7,
    "update/3": 9,
    "update/4": 10,
    "update/5": 10,
    "update/6": 10,
    "json/1": 4,
    "json/2": 5,
}


@st.composite
def _paths(draw: st.DrawFn) -> tuple[str, str]:
    prefix = draw(st.sampled_from(sorted(_route_shapes)))
    segments = draw(
        st.lists(_segment, min_size=_route_shapes[prefix], max_size=_route_shapes[prefix])
    )
    leaf = "update.json" if prefix.startswith("json") else "update.xml"
    query = draw(st.text(max_size=60))
    return "/" + "/".join([prefix, *segments, leaf]), query


@given(_paths())
def test_parse_returns_a_request_or_a_domain_error(path_and_query: tuple[str, str]) -> None:
    path, query = path_and_query
    try:
        result = parse(path, query, {"User-Agent": "Mozilla/5.0 (PPC)"})
    except RulelogError:
        return
    assert isinstance(result, UpdateRequest)


_plain_segment = st.text(
    alphabet=st.characters(blacklist_characters="/%", blacklist_categories=("Cs",)), min_size=1
)


@given(
    st.sampled_from(sorted(_route_shapes)).flatmap(
        lambda prefix: st.tuples(
            st.just(prefix),
            st.lists(
                _plain_segment, min_size=_route_shapes[prefix], max_size=_route_shapes[prefix]
            ),
        )
    ),
    st.text(max_size=40),
)
def test_routable_paths_parse_or_are_invalid(shape: tuple[str, list[str]], query: str) -> None:
    prefix, segments = shape
    leaf = "update.json" if prefix.startswith("json") else "update.xml"
    try:
        result = parse("/" + "/".join([prefix, *segments, leaf]), query)
    except Invalid:
        return
    assert isinstance(result, UpdateRequest)
