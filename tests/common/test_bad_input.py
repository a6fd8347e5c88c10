"""Bad input that used to give 500 (issue 9 #17): deep JSON, big headers, non-JSON bodies."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from hm_core.common.parser import MAX_JSON_DEPTH
from hm_core.events.models import Event
from hm_core.patients.models import Patient
from tests.documents.conftest import create_body, make_encounter
from tests.patients.factories import patient_body


def _nested(depth: int) -> dict:
    payload: dict = {"temp_c": 37.9}
    for _ in range(depth - 1):
        payload = {"n": payload}
    return payload


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 255, 256, 400])
def test_a_clinical_document_nested_too_deep_is_422(world, depth):
    # given
    api = world.api("doctor")
    encounter = make_encounter(world)
    before = Event.objects.count()

    # when
    response = api.post("/api/clinical-docs/", create_body(encounter, payload=_nested(depth)))

    # then
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert Event.objects.count() == before


def test_a_clinical_document_nested_within_the_limit_is_stored(world):
    api = world.api("doctor")
    encounter = make_encounter(world)

    # the body wraps the payload in one more object
    response = api.post(
        "/api/clinical-docs/", create_body(encounter, payload=_nested(MAX_JSON_DEPTH - 1))
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_sent_as_another_media_type_is_415_and_not_parsed(world, content_type):
    # given
    api = world.api()

    # when
    response = api.client.post(
        "/api/patients/",
        data=json.dumps(patient_body()),
        content_type=content_type,
        headers=api.headers,
    )

    # then
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert not Patient.all_tenants.filter(tenant_id=world.tenant.id).exists()


def test_json_with_a_charset_and_structured_json_types_are_accepted(world):
    api = world.api()

    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.client.post(
            "/api/patients/",
            data=json.dumps(patient_body()),
            content_type=content_type,
            headers=api.headers,
        )
        assert response.status_code == 201, (content_type, response.content)


def test_a_10_kb_header_gets_an_ordinary_answer(world):
    response = world.api().get("/api/patients/", headers={"X-Padding": "a" * 10240})

    assert response.status_code == 200


def test_gunicorn_as_make_serve_runs_it_passes_a_10_kb_header_to_django(tmp_path: Path):
    # given: gunicorn with config/gunicorn.py (no database needed for an unknown path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    command = [str(gunicorn), "-c", "config/gunicorn.py", "config.wsgi:application"]
    server = subprocess.Popen(  # noqa: S603 - fixed arguments
        [*command, "-w", "1", "--bind", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("w"),
    )
    try:
        raw = _request(port, "GET /api/no-such-thing/ HTTP/1.1", {"X-Padding": "a" * 10240})
    finally:
        server.terminate()
        server.wait(timeout=10)

    # then: Django's JSON error body, not gunicorn's HTML page
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), raw[:300]
    assert json.loads(body)["error"]["code"] == "not_found"


def _request(port: int, line: str, headers: dict[str, str]) -> bytes:
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    # The worker imports the whole application before it answers: seconds on a busy machine.
    conn.settimeout(60)
    with conn:
        lines = [line, "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
