"""Issue 17, finding 5: whatever arrives -- headers, path parameters, query values,
JSON bodies and JSON inside their string fields -- neither server answers a 5xx or
shows a traceback.

Both apps are driven in-process with raw ASGI scopes over a store holding the
test fixture. Admin requests go out as nobody, as an admin (so handlers run
to their deepest checks) and with malformed ``Authorization`` headers.
Example counts are modest: the suite runs this on every commit.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulelog.api.admin.app import AdminSettings, create_admin_app
from rulelog.api.public import PublicSettings, create_public_app
from tests.conftest import imported_fixture
from tests.integration.asgi_driver import AsgiDriver

FUZZ = settings(
    max_examples=int(os.environ.get("RULELOG_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

DEEP = "[" * 10_000 + "]" * 10_000
HUGE = "9" * 5_000
NASTY_TEXT = [
    "", " ", "\u00a0", "\x00", "\r\n", "..", "../..", "a/b", "\u202e", "%00", "1e30",
    "-1", "0", "1.5", HUGE, "-" + HUGE, "position:" + HUGE, "position:-1", "position:1e3",
    "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "99999999999999999999", DEEP,
    '{"a":' * 3000 + "1" + "}" * 3000, "x" * 3000,
]  # fmt: skip
_text = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=20))
_json_leaf: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    _text,
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "options", "blob", "data", "comment", "data_version", "name", "product", "channel",
    "priority", "mapping", "backgroundRate", "update_type", "when", "change_type", "rule_id",
    "sc_data_version", "role", "signoffs_required", "read_only", "version", "alias",
    "to", "delay", "dry_run", "percent", "old_data_version", "hashFunction", "schema_version",
]  # fmt: skip
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), _json, max_size=6),
    _json,
    st.sampled_from([DEEP, '{"options": "' + "[" * 5000 + '"}']),
)
_auth = st.one_of(
    st.sampled_from(
        ["\u00a0", "Bearer\u00a0rlt_x", "Bearer", "Bearer ", " Bearer  x ", "Basic x", "\x00"]
    ),
    st.text(max_size=30),
    st.text(max_size=30).map(lambda t: "Bearer " + t),
)


def _latin1(text: str) -> bytes:
    """What an HTTP server hands an app: latin-1 bytes, no CR, LF or NUL."""
    return re.sub(r"[\r\n\x00]", "", text).encode("latin-1", "replace")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    app = imported_fixture(tmp_path_factory.mktemp("security-fuzz"))
    yield app
    app.close()


@pytest.fixture(scope="module")
def admin(store: Any) -> Iterator[tuple[AsgiDriver, str, list[tuple[str, str]]]]:
    app = create_admin_app(store, AdminSettings())
    token = store.issue_token("importer", "tests")[1]
    document = app.openapi()
    routes = [(m.upper(), p) for p, ops in document["paths"].items() for m in ops]
    driver = AsgiDriver(app)
    yield driver, token, routes
    driver.close()


@pytest.fixture(scope="module")
def public(store: Any) -> Iterator[AsgiDriver]:
    app = create_public_app(settings=PublicSettings(follow=False), store=store)
    app.state.server.start()
    driver = AsgiDriver(app)
    yield driver
    driver.close()


def check(status: int, body: bytes, what: Any) -> None:
    assert status < 500, (status, what, body[:300])
    assert b"Traceback" not in body and b'File "' not in body, (what, body[:300])


@st.composite
def admin_requests(draw: st.DrawFn, routes: list[tuple[str, str]]) -> dict[str, Any]:
    method, template = draw(st.sampled_from(routes))
    path = re.sub(
        r"\{\w+\}", lambda _: quote(draw(_text)[:6000], safe="") or "x", template
    ).encode()
    keys = ["at", "since", "until", "from", "to", "limit", "page", "kind", "channel", "url"]
    query = "&".join(
        f"{k}={quote(v, safe='')}"
        for k, v in draw(st.lists(st.tuples(st.sampled_from(keys), _text), max_size=3))
    ).encode()
    body = draw(_bodies) if method in ("POST", "PUT", "DELETE") else None
    return {
        "method": method,
        "path": path,
        "query": query,
        "body": b"" if body is None else json.dumps(body).encode(),
        "who": draw(st.sampled_from(["admin", "nobody", "header"])),
        "auth": draw(_auth),
    }


def _admin_headers(request: dict[str, Any], token: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json")]
    if request["who"] == "admin":
        headers.append((b"authorization", f"Bearer {token}".encode()))
    elif request["who"] == "header":
        headers.append((b"authorization", _latin1(request["auth"])))
    return headers


@FUZZ
@given(data=st.data())
def test_the_admin_app_never_answers_5xx(admin: Any, data: st.DataObject) -> None:
    driver, token, routes = admin
    request = data.draw(admin_requests(routes))
    status, body = driver.request(
        request["method"],
        request["path"],
        request["query"],
        _admin_headers(request, token),
        request["body"],
    )
    check(status, body, {k: str(v)[:200] for k, v in request.items()})


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/users/x%40e.com/permissions/rule", {"options": DEEP}),
        ("POST", "/api/releases", {"name": "R", "product": "P", "blob": DEEP}),
        ("PUT", "/api/releases/R", {"name": "R", "product": "P", "blob": DEEP}),
        ("PUT", "/api/releases/Firefox-121.0-build1", {"data": DEEP, "data_version": 1}),
        ("POST", "/api/scheduled_changes/permissions", {"options": DEEP, "when": 1}),
        ("POST", "/api/scheduled_changes/releases", {"data": DEEP, "when": 1}),
        ("GET", f"/api/rules/{HUGE}", None),
        ("GET", f"/api/rules/{HUGE}/revisions", None),
        ("GET", f"/api/scheduled_changes/rules/{HUGE}", None),
        ("GET", "/api/timeline/rules?at=1e30", None),
        (
            "GET",
            f"/api/timeline/rules?at={'9' * 30}",
            None,
        ),
        ("GET", f"/api/timeline/rules?at=position:{HUGE}", None),
        ("GET", f"/api/timeline/changes?since=position:{HUGE}", None),
        ("GET", f"/api/rules/history?limit={HUGE}", None),
    ],
)
def test_the_reported_inputs_are_400_or_404(admin: Any, method: str, path: str, body: Any) -> None:
    driver, token, _ = admin
    raw_path, _, query = path.partition("?")
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    data = b"" if body is None else json.dumps(body).encode()
    status, answer = driver.request(method, raw_path.encode(), query.encode(), headers, data)
    check(status, answer, path)
    assert status in (400, 404), (status, answer[:300])


@pytest.mark.parametrize("header", ["\u00a0", "Bearer\u00a0x", "Bearer \u00a0", "\u00a0Bearer x"])
def test_unicode_spaces_in_authorization_are_401(admin: Any, header: str) -> None:
    driver, _, _ = admin
    headers = [(b"authorization", header.encode("latin-1"))]
    status, body = driver.request("GET", b"/api/users", b"", headers)
    assert status == 401, body[:300]


PUBLIC_TEMPLATES = [
    "/api/v1/rules/{x}", "/api/v1/rules/{x}/revisions", "/api/v1/releases/{x}",
    "/api/v1/releases/{x}/builds/{x}/{x}", "/api/v1/emergency_shutoff/{x}/{x}",
    "/api/v1/pins/{x}/{x}/{x}", "/api/v1/rules", "/api/v1/releases",
    "/update/6/{x}/{x}/{x}/{x}/{x}/{x}/{x}/{x}/{x}/update.xml", "/json/1/{x}/{x}/{x}/update.json",
]  # fmt: skip


@FUZZ
@given(
    template=st.sampled_from(PUBLIC_TEMPLATES),
    values=st.lists(_text, min_size=9, max_size=9),
    query=st.lists(
        st.tuples(st.sampled_from(["product", "name_prefix", "names", "force"]), _text), max_size=3
    ),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["authorization", "user-agent", "accept", "x-forwarded-for"]), _text
        ),
        max_size=3,
    ),
    body=_bodies,
)
def test_the_public_app_never_answers_5xx(
    public: AsgiDriver, template: str, values: list[str], query: list, headers: list, body: Any
) -> None:
    filled = iter(values)
    path = re.sub(r"\{x\}", lambda _: quote(next(filled)[:6000], safe="") or "x", template)
    raw_query = "&".join(f"{k}={quote(v, safe='')}" for k, v in query).encode()
    sent = [(k.encode(), _latin1(v)) for k, v in headers]
    status, answer = public.request(
        "GET", path.encode(), raw_query, sent, json.dumps(body).encode()
    )
    check(status, answer, (path[:200], raw_query[:200]))


@pytest.mark.parametrize("id_or_alias", ["9" * 5000, "9" * 30, "²", "%C2%B2"])
def test_a_rule_id_no_rule_could_have_is_not_found(public: AsgiDriver, id_or_alias: str) -> None:
    """More digits than Python converts by default (4,300), more than an id holds,
    or a Unicode digit: no such rule (it was a 503, the lookup's error)."""
    status, answer = public.request("GET", f"/api/v1/rules/{id_or_alias}".encode(), b"", [], b"")
    assert status == 404, (status, answer[:200])
