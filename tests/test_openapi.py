"""The OpenAPI document lets generated clients and "Try it out" call every endpoint (§11a)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.conftest import World

UNSCOPED = {
    "/api/auth/token/",
    "/api/auth/token/refresh/",
    "/api/auth/me/",
    "/api/auth/logout/",
    "/api/auth/password/change/",
    "/api/auth/password-reset/",
    "/api/auth/password-reset/confirm/",
    "/api/health/",
    "/api/fhir/metadata",
}
WRITES_WITH_IF_MATCH = {
    ("patch", "/api/patients/{patient_id}/"),
    ("delete", "/api/patients/{patient_id}/"),
    ("post", "/api/tasks/{task_id}/complete/"),
    ("post", "/api/alerts/{alert_id}/acknowledge/"),
    ("post", "/api/lab/results/{result_id}/verify/"),
}


def _document() -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _headers(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}


def test_every_scoped_operation_declares_bearer_and_scope_headers() -> None:
    # given the served document
    document = _document()
    schemes = document["components"]["securitySchemes"]
    operations = _operations(document)
    assert len(operations) > 40
    for method, path, operation in operations:
        headers = _headers(operation)
        if path in UNSCOPED:
            # then the sign-in, profile and health endpoints ask for no scope
            assert "X-Tenant-ID" not in headers, (method, path)
            continue
        # then a scoped operation needs a bearer token and both scope headers
        (requirement,) = operation["security"]
        (scheme,) = requirement
        assert schemes[scheme] == {"type": "http", "scheme": "bearer"}, (method, path)
        for name in ("X-Tenant-ID", "X-Facility-ID"):
            assert headers[name]["required"] is True, (method, path, name)
            assert headers[name]["schema"]["format"] == "uuid"
        # and every POST takes an Idempotency-Key
        assert ("Idempotency-Key" in headers) == (method == "post"), (method, path)


def test_writes_that_accept_if_match_declare_it_and_reads_do_not() -> None:
    # given
    operations = _operations(_document())
    declared = {(m, p) for m, p, op in operations if "If-Match" in _headers(op)}
    # then the known versioned writes declare it, no read does, and it is never required
    assert declared >= WRITES_WITH_IF_MATCH
    assert not {(m, p) for m, p in declared if m == "get"}
    assert ("post", "/api/patients/") not in declared
    assert all(
        _headers(op)["If-Match"]["required"] is False
        for m, p, op in operations
        if (m, p) in declared
    )


def test_a_call_built_from_the_document_alone_is_served(world: World) -> None:
    # given the token and the headers the document names, as "Try it out" sends them
    operation = _document()["paths"]["/api/patients/"]["get"]
    names = [n for n, p in _headers(operation).items() if p["required"]]
    token = world.api().headers["Authorization"]
    values = {"X-Tenant-ID": str(world.tenant.id), "X-Facility-ID": str(world.main.id)}
    # when
    response = Client().get(
        "/api/patients/", headers={"Authorization": token, **{n: values[n] for n in names}}
    )
    # then
    assert response.status_code == 200, response.content
