"""Tenant and facility isolation of every patient endpoint (contract §1 scope rules).

Another tenant's patient is 404 exactly like a random id; scope headers are checked before
anything else; a scoped table queried outside `scope_active()` fails closed.
"""

from __future__ import annotations

import uuid

import pytest

from hm_core.audit.models import AuditRecord
from hm_core.common.scope import ScopeNotActive, scope_active
from hm_core.events.models import Event
from hm_core.iam.models import FacilityMembership
from hm_core.patients.models import Patient
from hm_core.patients.selectors import PatientFilters, patient_get, patient_list
from hm_core.timeline.models import TimelineEntry
from tests.conftest import Api
from tests.patients.factories import patient_body, register_patient

# (method, path, body) of every patient endpoint; `{id}` is the probed patient.
ENDPOINTS = [
    ("post", "/api/patients/", "new"),
    ("get", "/api/patients/", None),
    ("get", "/api/patients/{id}/", None),
    ("patch", "/api/patients/{id}/", {"full_name": "Probe"}),
    ("delete", "/api/patients/{id}/", None),
    ("post", "/api/patients/{id}/restore/", {}),
    ("get", "/api/patients/{id}/timeline/", None),
]
BY_ID = [e for e in ENDPOINTS if "{id}" in e[1]]


def _call(api: Api, method: str, path: str, body, patient_id) -> object:
    url = path.format(id=patient_id)
    if body == "new":
        body = patient_body()
    if method in ("get", "delete"):
        return getattr(api, method)(url)
    return getattr(api, method)(url, body)


def _ids(endpoints) -> list[str]:
    return [f"{m.upper()} {p}" for m, p, _ in endpoints]


def _all_rows(tenant_id) -> tuple[int, int, int]:
    """Events, patient rows and audit records of a tenant."""
    return (
        Event.objects.filter(tenant_id=tenant_id).count(),
        Patient.all_tenants.filter(tenant_id=tenant_id).count(),
        AuditRecord.all_tenants.filter(tenant_id=tenant_id).count(),
    )


@pytest.fixture
def rival_patient(other_world):
    """A patient of the other tenant, with a phone and a deleted sibling."""
    api = other_world.api()
    deleted = register_patient(api, full_name="Rita Rival", mrn="RIV-2")
    api.delete(f"/api/patients/{deleted['id']}/")
    return register_patient(api, full_name="Rudolf Rival", mrn="RIV-1", phone="+49 30 1234")


# --- another tenant's patient is 404, exactly like a random id ------------------------------


@pytest.mark.parametrize(("method", "path", "body"), BY_ID, ids=_ids(BY_ID))
def test_another_tenants_patient_is_404_exactly_like_a_random_id(
    world, other_world, rival_patient, method, path, body
):
    # given
    api = world.api("admin")
    rival_before = _all_rows(other_world.tenant.id)

    # when
    probed = _call(api, method, path, body, rival_patient["id"])
    missing = _call(api, method, path, body, uuid.uuid4())

    # then
    assert probed.status_code == 404, probed.content
    assert probed.json() == missing.json()
    assert probed.json()["error"]["code"] == "not_found"
    assert rival_patient["id"] not in probed.content.decode()
    assert _all_rows(other_world.tenant.id) == rival_before


def test_another_tenants_deleted_patient_cannot_be_restored(world, other_world):
    rival = register_patient(other_world.api())
    other_world.api().delete(f"/api/patients/{rival['id']}/")

    response = world.api("admin").post(f"/api/patients/{rival['id']}/restore/")

    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Patient.all_tenants.get(id=rival["id"]).is_deleted


def test_list_never_shows_another_tenants_patients_in_items_or_count(world, rival_patient):
    # given
    api = world.api()
    own = register_patient(api, full_name="Otto Own")

    # when
    everything = api.get("/api/patients/").json()
    by_name = api.get("/api/patients/", {"search": "Rival"}).json()
    by_mrn = api.get("/api/patients/", {"search": "RIV-"}).json()
    by_phone = api.get("/api/patients/", {"search": "+49"}).json()

    # then
    assert [p["id"] for p in everything["items"]] == [own["id"]] and everything["count"] == 1
    for page in (by_name, by_mrn, by_phone):
        assert page == {"items": [], "count": 0}


def test_the_same_mrn_may_exist_in_two_tenants_without_revealing_the_other(world, rival_patient):
    response = world.api().post("/api/patients/", patient_body(mrn=rival_patient["mrn"]))

    assert response.status_code == 201, response.content
    assert response.json()["id"] != rival_patient["id"]


def test_patch_to_another_tenants_mrn_is_allowed(world, rival_patient):
    own = register_patient(world.api())

    response = world.api().patch(f"/api/patients/{own['id']}/", {"mrn": rival_patient["mrn"]})

    assert response.status_code == 200, response.content


def test_timeline_never_shows_another_tenants_events(world, other_world, rival_patient):
    own = register_patient(world.api())

    items = world.api().get(f"/api/patients/{own['id']}/timeline/").json()["items"]

    rival_events = {
        str(event_id)
        for event_id in Event.objects.filter(tenant_id=other_world.tenant.id).values_list(
            "id", flat=True
        )
    }
    assert rival_events
    assert [i["stream"]["id"] for i in items] == [own["id"]]
    assert not {i["event_id"] for i in items} & rival_events


# --- facilities: patients are tenant-wide ---------------------------------------------------


def test_a_patient_registered_at_main_is_visible_from_the_annex(world):
    patient = register_patient(world.api("doctor", facility=world.main))

    annex = world.api("doctor", facility=world.annex)

    assert annex.get(f"/api/patients/{patient['id']}/").status_code == 200
    assert [p["id"] for p in annex.get("/api/patients/").json()["items"]] == [patient["id"]]
    timeline = annex.get(f"/api/patients/{patient['id']}/timeline/").json()["items"]
    assert [i["type"] for i in timeline] == ["patient.registered"]


# --- scope headers --------------------------------------------------------------------------


@pytest.fixture
def own_patient(world):
    return register_patient(world.api())


def _headers_case(world, case: str) -> tuple[object, object]:
    """(X-Tenant-ID, X-Facility-ID) for one probe; None leaves the header out."""
    return {
        "tenant-missing": (None, world.main.id),
        "facility-missing": (world.tenant.id, None),
        "both-missing": (None, None),
        "tenant-not-a-uuid": ("acme", world.main.id),
        "facility-not-a-uuid": (world.tenant.id, "main"),
        "tenant-empty": ("", world.main.id),
        "facility-sql": (world.tenant.id, "' OR 1=1 --"),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "tenant-missing",
        "facility-missing",
        "both-missing",
        "tenant-not-a-uuid",
        "facility-not-a-uuid",
        "tenant-empty",
        "facility-sql",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=_ids(ENDPOINTS))
def test_missing_or_malformed_scope_headers_are_400_scope_required(
    world, own_patient, case, method, path, body
):
    # given
    tenant_id, facility_id = _headers_case(world, case)
    api = Api(world.users["admin"], tenant_id, facility_id)
    before = _all_rows(world.tenant.id)

    # when
    response = _call(api, method, path, body, own_patient["id"])

    # then
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "scope_required"
    assert _all_rows(world.tenant.id) == before


def _forbidden_case(world, other_world, case: str) -> Api:
    return {
        # the nurse is a member of main only
        "no-membership-in-facility": lambda: world.api("nurse", facility=world.annex),
        "facility-of-another-tenant": lambda: Api(
            world.users["admin"], world.tenant.id, other_world.main.id
        ),
        "tenant-of-another-facility": lambda: Api(
            world.users["admin"], other_world.tenant.id, world.main.id
        ),
        "another-tenants-scope": lambda: Api(
            world.users["admin"], other_world.tenant.id, other_world.main.id
        ),
        "unknown-facility": lambda: Api(world.users["admin"], world.tenant.id, uuid.uuid4()),
    }[case]()


@pytest.mark.parametrize(
    "case",
    [
        "no-membership-in-facility",
        "facility-of-another-tenant",
        "tenant-of-another-facility",
        "another-tenants-scope",
        "unknown-facility",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=_ids(ENDPOINTS))
def test_a_facility_without_active_membership_is_403_scope_forbidden(
    world, other_world, own_patient, case, method, path, body
):
    # given
    api = _forbidden_case(world, other_world, case)
    before = (_all_rows(world.tenant.id), _all_rows(other_world.tenant.id))

    # when
    response = _call(api, method, path, body, own_patient["id"])

    # then
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "scope_forbidden"
    assert (_all_rows(world.tenant.id), _all_rows(other_world.tenant.id)) == before


def test_an_inactive_membership_is_403_scope_forbidden(world, own_patient):
    FacilityMembership.objects.filter(user=world.users["doctor"], facility=world.main).update(
        is_active=False
    )

    response = world.api("doctor").get(f"/api/patients/{own_patient['id']}/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_forbidden"


def test_an_inactive_facility_is_403_scope_forbidden(world, own_patient):
    world.annex.is_active = False
    world.annex.save(update_fields=["is_active"])

    response = world.api("admin", facility=world.annex).get("/api/patients/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_forbidden"


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=_ids(ENDPOINTS))
def test_every_patient_endpoint_needs_a_token(world, own_patient, method, path, body):
    api = Api(None, world.tenant.id, world.main.id)

    response = _call(api, method, path, body, own_patient["id"])

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "not_authenticated"


# --- the scope guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(lambda: list(Patient.objects.all()), id="patients-all"),
        pytest.param(lambda: Patient.objects.count(), id="patients-count"),
        pytest.param(lambda: Patient.objects.filter(mrn="x").exists(), id="patients-filter"),
        pytest.param(lambda: list(TimelineEntry.objects.all()), id="timeline-all"),
        pytest.param(lambda: list(AuditRecord.objects.all()), id="audit-all"),
    ],
)
def test_a_scoped_model_queried_outside_scope_active_raises(world, own_patient, query):
    with pytest.raises(ScopeNotActive):
        query()


def test_selectors_called_outside_scope_active_raise(world, own_patient):
    scope = world.scope()
    with pytest.raises(ScopeNotActive):
        patient_get(scope=scope, patient_id=uuid.UUID(own_patient["id"]))
    with pytest.raises(ScopeNotActive):
        list(patient_list(scope=scope, filters=PatientFilters()))


def test_inside_scope_active_the_selector_still_filters_on_the_given_scope(
    world, other_world, own_patient, rival_patient
):
    scope = world.scope()
    with scope_active(scope):
        ids = [str(p.id) for p in patient_list(scope=scope, filters=PatientFilters())]
    assert ids == [own_patient["id"]]
