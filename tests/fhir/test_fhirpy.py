"""A FHIR client written by others (fhirpy's SyncFHIRClient) against a real server: it imports
a Synthea bundle, searches and pages, reads, and reads the patient's observations back."""

from __future__ import annotations

import json

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound
from ninja_jwt.tokens import AccessToken

from tests.fhir.test_transaction import bundle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def client_for(live_server, world, role="admin") -> SyncFHIRClient:
    return SyncFHIRClient(
        f"{live_server.url}/api/fhir",
        authorization=f"Bearer {AccessToken.for_user(world.users[role])}",
        extra_headers={"X-Tenant-ID": str(world.tenant.id), "X-Facility-ID": str(world.main.id)},
    )


def test_fhirpy_imports_a_synthea_bundle_then_searches_pages_and_reads(live_server, world):
    # given
    client = client_for(live_server, world)
    source = bundle("weston_fay.json")
    # when: the transaction, posted as any FHIR client posts one
    response = client.execute("", method="post", data=source)
    patient_ref = response["entry"][0]["response"]["location"]
    patient_id = patient_ref.split("/")[1]
    # then: search by name, read, and the observations back, paged by the client
    (found,) = client.resources("Patient").search(family="Fay").fetch()
    assert found.id == patient_id
    patient = client.reference("Patient", patient_id).to_resource()
    assert patient["birthDate"] == source["entry"][0]["resource"]["birthDate"]
    observations = client.resources("Observation").search(subject=patient_ref).limit(40).fetch_all()
    wanted = [e for e in source["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(observations) == len(wanted)
    assert len({o.id for o in observations}) == len(wanted)
    assert client.resources("Encounter").search(patient=patient_id).count() == sum(
        1 for e in source["entry"] if e["resource"]["resourceType"] == "Encounter"
    )
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", "00000000-0000-0000-0000-000000000000").to_resource()
    with pytest.raises(OperationOutcome):
        client.resources("Patient").search(birthdate="yesterday").fetch()
    assert json.dumps(client.execute("metadata", method="get")["fhirVersion"]) == '"4.0.1"'
