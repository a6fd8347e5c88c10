"""Identity lifecycle decisions, without a database."""

from __future__ import annotations

import uuid

import pytest

from hm_core.common.errors import Conflict, ValidationFailed
from hm_core.iam import domain
from hm_core.iam.events import MembershipGranted, RolePermissionsChanged

IDS = {"membership_id": uuid.uuid4(), "user_id": uuid.uuid4(), "facility_id": uuid.uuid4()}


def test_a_grant_states_every_role_held_afterwards():
    (event,) = domain.grant(**IDS, held={"nurse"}, roles=["receptionist"])

    assert isinstance(event, MembershipGranted)
    assert event.roles == ["nurse", "receptionist"]


def test_granting_roles_already_held_decides_nothing_but_a_revoked_one_is_granted_again():
    assert domain.grant(**IDS, held={"nurse", "doctor"}, roles=["nurse"]) == []
    assert domain.grant(**IDS, held=None, roles=["nurse"])[0].roles == ["nurse"]


def test_revoking_twice_is_an_invalid_transition():
    assert domain.revoke(**IDS, active=True)
    with pytest.raises(Conflict) as raised:
        domain.revoke(**IDS, active=False)
    assert raised.value.code == "invalid_transition"


@pytest.mark.parametrize(
    ("roles", "linked"),
    [(["wizard"], False), (["patient"], False), (["patient", "nurse"], True), (["nurse"], True)],
)
def test_roles_must_exist_and_the_patient_role_is_held_alone_by_a_linked_account(roles, linked):
    with pytest.raises(ValidationFailed):
        domain.roles_check(roles, known={"nurse", "patient"}, patient_linked=linked)


def test_permissions_set_names_what_was_added_and_removed():
    (event,) = domain.permissions_set(
        role="nurse", current={"a", "b"}, wanted=["b", "c"], known={"a", "b", "c"}
    )

    assert isinstance(event, RolePermissionsChanged)
    assert (event.permissions, event.added, event.removed) == (["b", "c"], ["c"], ["a"])
    assert domain.permissions_set(role="nurse", current={"a"}, wanted=["a"], known={"a"}) == []


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC"])
def test_iana_zones_are_accepted(zone):
    assert domain.time_zone_check(zone) == zone


@pytest.mark.parametrize("zone", ["Mars/Base", "Europe", "/etc/localtime", "", "EST+5h"])
def test_names_zoneinfo_does_not_know_are_refused(zone):
    with pytest.raises(ValidationFailed):
        domain.time_zone_check(zone)


def test_an_update_that_changes_nothing_decides_nothing():
    facility = {"facility_id": uuid.uuid4(), "name": "Main", "time_zone": "UTC"}

    assert domain.facility_update(**facility, new_name="Main", new_time_zone=None) == []
    (event,) = domain.facility_update(**facility, new_name=None, new_time_zone="Asia/Tokyo")
    assert (event.name, event.time_zone, event.changed) == ("Main", "Asia/Tokyo", ["time_zone"])
