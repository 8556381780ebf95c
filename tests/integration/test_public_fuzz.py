"""The public ASGI app never answers 500, whatever the path, query, bytes or method.

Requests are handed to the app in-process as raw ASGI scopes (no HTTP client
normalising them first), over the URL space of every route and over raw
bytes; then with a handler that fails, to exercise the catch-all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulelog.api.public import PublicSettings, create_public_app
from rulelog.api.public import server as public_module
from tests.conftest import DATA, imported_fixture
from tests.integration.asgi_driver import AsgiDriver

ROUTE_SHAPES = {
    "update/1": 6, "update/2": 7, "update/3": 9, "update/4": 10, "update/5": 10,
    "update/6": 10, "json/1": 4, "json/2": 5, "api/v1/rules": 1, "api/v1/releases": 4,
    "api/v1/emergency_shutoff": 2, "api/v1/pins": 3, "__heartbeat__": 0, "robots.txt": 0,
}  # fmt: skip
OK_STATUSES = {200, 308, 400, 404, 405}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Driver(AsgiDriver):
    """The shared raw-scope driver, with the User-Agent as its one header."""

    def request(  # type: ignore[override]
        self, method: str, raw_path: bytes, query: bytes = b"", user_agent: bytes = b""
    ) -> tuple[int, bytes]:
        return super().request(method, raw_path, query, [(b"user-agent", user_agent)])


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    store = imported_fixture(tmp_path_factory.mktemp("fuzz"))
    app = create_public_app(settings=PublicSettings(follow=False), store=store)
    app.state.server.start()
    driver = Driver(app)
    yield driver
    driver.loop.close()


def check(status: int, body: bytes, raw_path: bytes) -> None:
    assert status in OK_STATUSES, (status, raw_path, body[:300])
    assert b"Traceback" not in body
    if raw_path.startswith(b"/update") and status != 308:
        assert status in (200, 400, 405), (status, raw_path)


_segment = st.one_of(
    st.text(min_size=0, max_size=15).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"Firefox", b"120.0", b"release", b"en-US", b"%2F", b"%C3", b"%", b".."]),
    st.binary(max_size=10),
)
_query = st.one_of(
    st.binary(max_size=40),
    st.lists(
        st.tuples(
            st.sampled_from([b"force", b"pin", b"avast", b"mig64", b"foo", b"product", b"page"]),
            st.sampled_from([b"1", b"-1", b"", b"120.", b"1?avast=1", b"1%3Fproduct=1", b"%FF"]),
        ),
        max_size=4,
    ).map(lambda pairs: b"&".join(k + b"=" + v for k, v in pairs)),
)


@st.composite
def _targets(draw: st.DrawFn) -> tuple[bytes, bytes]:
    prefix = draw(st.sampled_from(sorted(ROUTE_SHAPES)))
    count = ROUTE_SHAPES[prefix] + draw(st.integers(-1, 1))
    segments = draw(st.lists(_segment, min_size=max(count, 0), max_size=max(count, 0)))
    leaf = draw(st.sampled_from([b"update.xml", b"update.json", b"", b"x"]))
    path = b"/" + b"/".join([prefix.encode(), *segments, leaf])
    return path, draw(_query)


def _printable(raw: bytes) -> bytes:
    """What reaches an app from a real server: no spaces or control bytes in the target."""
    return bytes(b for b in raw if 0x20 < b != 0x7F)


@FUZZ
@given(_targets(), st.sampled_from(["GET", "HEAD", "POST", "OPTIONS"]), st.binary(max_size=30))
def test_url_space_never_500(
    driver: Driver, target: tuple[bytes, bytes], method: str, user_agent: bytes
) -> None:
    path, query = _printable(target[0]), _printable(target[1])
    status, body = driver.request(method, path, query, user_agent)
    check(status, body, path)


@FUZZ
@given(st.binary(max_size=200), st.binary(max_size=60))
def test_raw_bytes_never_500(driver: Driver, raw: bytes, query: bytes) -> None:
    path = b"/" + raw
    status, body = driver.request("GET", path, query)
    check(status, body, path)


def test_a_failing_handler_still_answers(driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(public_module, "evaluate", broken)
    vectors = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
    update = vectors[0]["url"].encode()
    path, _, query = update.partition(b"?")
    status, body = driver.request("GET", path, query)
    assert status == 200 and body == b'<?xml version="1.0"?>\n<updates>\n</updates>'
    status, body = driver.request(
        "GET", b"/json/1/FirefoxVPN/2.18.0/WINNT_x86_64/release/update.json"
    )
    assert status == 200 and body == b"{}"
    monkeypatch.setattr(driver.app.state.server.state, "_index", None)
    status, body = driver.request("GET", b"/api/v1/rules")
    assert status == 503 and b"Traceback" not in body
