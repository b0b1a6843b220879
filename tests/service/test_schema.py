"""Property tests against the OpenAPI spec (schemathesis): no input makes a 500, and every
answer matches the spec, for each role's credentials. Bounded: a few examples per operation."""

from __future__ import annotations

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import Service

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
USERS = ("pat", "lena", "audrey", "ada", None)


def test_api_never_fails_and_keeps_to_its_spec(service: Service) -> None:
    # (set, as a bureau must before its lenders can issue adverse-action notices: else 503)
    service.client.app.state.ctx.config.bureau_contact = "PO Box 1, Springfield; 555-0100"
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", service.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case):  # type: ignore[no-untyped-def]
            for user in USERS:
                case.call_and_validate(headers=service.api(user) if user else {}, checks=CHECKS)

        check()
