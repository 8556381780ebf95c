"""A node that loses its database keeps serving, says it is stale, and catches up.

The node reaches PostgreSQL through a TCP proxy the test cuts and restores;
the changes are committed directly, as by an admin node that still has its
database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from rulelog.api.public import PublicSettings, create_public_app
from tests.conftest import DATA, Store, _postgres_store
from tests.integration.public_driver import Driver
from tests.tcp_proxy import TcpProxy

VECTOR = next(
    v
    for v in map(json.loads, (DATA / "expected.jsonl").read_text().splitlines())
    if v["url"].startswith("/update/") and v.get("rule_id") == "1" and v["status"] == 200
)


@pytest.fixture
def pg_store() -> Iterator[Store]:
    yield from _postgres_store()


def through(proxy: TcpProxy, url: str) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Polls ``condition`` until it holds; returns how long that took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s: {what}"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.postgres
def test_stale_then_recover_over_a_cut_proxy(
    pg_store: Store, fixture_snapshot: dict[str, Any]
) -> None:
    admin = pg_store.open_with_admins()
    admin.import_snapshot(fixture_snapshot, "importer")
    parts = urlsplit(pg_store.url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        settings = PublicSettings(poll_interval=0.05)
        web = create_public_app(through(proxy, pg_store.url), settings)
        web.state.server.start()
        node = Driver(web)
        try:
            status, _, body = node.get(VECTOR["url"])
            assert status == 200 and body.decode() == VECTOR["body"]
            assert node.get("/__heartbeat__")[0] == 200

            proxy.cut()
            wait_for(lambda: node.get("/__heartbeat__")[0] == 502, 5, "heartbeat says stale")
            beat = node.get("/__heartbeat__")[2].decode()
            assert "stale for" in beat, beat
            rule = admin.get_rule(1)
            admin.update_rule(1, rule.data_version, {"comment": "while cut"}, "alice")
            # The last view is still served, unchanged, and the node stays in rotation.
            for _ in range(20):
                status, headers, body = node.get(VECTOR["url"])
                assert status == 200 and body.decode() == VECTOR["body"]
                assert dict(headers)[b"rule-data-version"] == str(rule.data_version).encode()
            assert node.get("/__lbheartbeat__")[0] == 200

            proxy.restore()
            fresh = str(rule.data_version + 1).encode()
            wait_for(
                lambda: dict(node.get(VECTOR["url"])[1])[b"rule-data-version"] == fresh,
                5,
                "the change committed during the cut is served",
            )
            assert node.get("/__heartbeat__")[0] == 200
        finally:
            web.state.server.stop()
            web.request_log.close()
            node.loop.close()
