"""schemathesis against the served OpenAPI document: no 5xx, every answer matches its schema.

Property-based requests (bounded: a few examples per operation, no shrinking
marathons) go over real HTTP to the admin server serving the fixture data,
authenticated as an admin so writes reach the handlers rather than stopping
at 401. Whatever the input, the server must answer with a status and a body
the document declares -- a 500 (or the 503 rulelog's catch-all gives
instead) fails the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from rulelog.api.admin.app import create_admin_app
from rulelog.services.application import RulelogApp
from tests.conftest import new_store
from tests.e2e.conftest import AdminServer

#: Examples per operation: enough to reach every handler with odd input, bounded in time.
EXAMPLES = 8


@pytest.fixture(scope="module")
def admin_token(admin_server: AdminServer, fixture_snapshot: dict[str, Any]) -> Iterator[str]:
    """The admin server now serves the fixture data; the token of an admin."""
    with new_store("sqlite") as store:
        service = store.open_with_admins()
        service.import_snapshot(fixture_snapshot, "importer")
        admin_server.use(service)
        _, token = service.issue_token("alice", "tests")
        yield token
        service.close()


#: The document the server serves (it is built from the routes, so it is the same object).
schema = schemathesis.openapi.from_dict(
    create_admin_app(RulelogApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})).openapi()
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_within_its_schema(
    case: Any, admin_server: AdminServer, admin_token: str
) -> None:
    case.call_and_validate(
        base_url=f"http://127.0.0.1:{admin_server.port}",
        headers={"Authorization": f"Bearer {admin_token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        timeout=30,
    )
