"""The admin serves operators onboarding a tenant: Django superusers only, every registered
model's pages render, tenant filters where rows carry a tenant, nothing event-sourced editable."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from hm_core.catalog.models import ServiceItem
from hm_core.catalog.services import catalog_seed
from hm_core.common.models import ScopedModel
from hm_core.events.models import Event
from hm_core.iam.models import User
from tests.conftest import World


@pytest.fixture
def operator(world: World) -> Client:
    catalog_seed(tenant_id=world.tenant.id, currency="USD")
    User.objects.create_superuser("root", "root@example.org", "pw-for-tests-123")
    client = Client()
    client.login(username="root", password="pw-for-tests-123")
    return client


def _url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)


def test_onboarding_models_are_registered() -> None:
    labels = {m._meta.label for m in REGISTERED}
    assert {
        "iam.Tenant",
        "iam.Facility",
        "iam.User",
        "iam.FacilityMembership",
        "iam.RolePermission",
        "catalog.ServiceItem",
    } <= labels


@pytest.mark.parametrize("model", REGISTERED, ids=[m._meta.label for m in REGISTERED])
def test_every_registered_model_renders_for_a_superuser(operator: Client, model: type) -> None:
    # when the changelist, its search, and the first object's page are opened
    response = operator.get(_url(model, "changelist"))
    # then
    assert response.status_code == 200, response.content[:500]
    assert operator.get(_url(model, "changelist"), {"q": "a"}).status_code == 200
    first = model._default_manager.first()
    if first is not None:
        assert operator.get(_url(model, "change", first.pk)).status_code == 200
    if admin.site._registry[model].has_add_permission(response.wsgi_request):
        assert operator.get(_url(model, "add")).status_code == 200


def test_catalog_items_are_filtered_by_tenant(operator: Client, world: World, other_world) -> None:
    # given two tenants with the starter catalog
    catalog_seed(tenant_id=other_world.tenant.id, currency="USD")
    ours = ServiceItem.objects.filter(tenant_id=world.tenant.id).count()
    assert ours and ServiceItem.objects.exclude(tenant_id=world.tenant.id).exists()
    # when
    response = operator.get(_url(ServiceItem, "changelist"), {"tenant_id": str(world.tenant.id)})
    # then only that tenant's items are listed, with its slug
    assert response.status_code == 200
    assert response.context["cl"].result_count == ours
    assert "acme" in response.content.decode()


def test_nothing_event_sourced_is_editable(operator: Client) -> None:
    request = operator.get(reverse("admin:index")).wsgi_request
    for model, model_admin in admin.site._registry.items():
        if issubclass(model, ScopedModel) or model is Event:
            assert not model_admin.has_add_permission(request), model
            assert not model_admin.has_change_permission(request), model
            assert not model_admin.has_delete_permission(request), model


def test_a_staff_user_who_is_not_a_superuser_cannot_open_the_admin(world: World) -> None:
    # given a tenant admin with the staff flag
    user = world.users["admin"]
    user.is_staff = True
    user.set_password("pw-for-tests-123")
    user.save()
    client = Client()
    # when / then: the admin stays closed (tenant admins use the API)
    assert not client.login(username=user.username, password="pw-for-tests-123") or (
        client.get(reverse("admin:index")).status_code == 302
    )


def test_adding_a_user_in_the_admin_hashes_the_password(operator: Client) -> None:
    response = operator.post(
        _url(User, "add"),
        {
            "username": "newdoc",
            "full_name": "New Doctor",
            "password1": "a-Long-passphrase-42",
            "password2": "a-Long-passphrase-42",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(username="newdoc")
    assert user.check_password("a-Long-passphrase-42") and user.full_name == "New Doctor"


def test_deleting_a_membership_in_the_admin_refuses_its_holder_at_the_next_request(
    operator: Client, world: World
) -> None:
    # given: the nurse's principal is cached by a first request
    from hm_core.iam.models import FacilityMembership

    nurse = world.api("nurse")
    assert nurse.get("/api/patients/").status_code == 200
    membership = FacilityMembership.objects.get(user=world.users["nurse"], facility=world.main)

    # when: the operator deletes the membership
    response = operator.post(_url(FacilityMembership, "delete", membership.pk), {"post": "yes"})

    # then
    assert response.status_code == 302
    assert nurse.get("/api/patients/").json()["error"]["code"] == "scope_forbidden"
