"""factory-boy factories for IAM and reference data; clinical state goes through services."""

from __future__ import annotations

import factory

from hm_core.iam.models import Facility, Tenant, User


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug.title()} Hospital")


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    tenant = factory.SubFactory(TenantFactory)
    code = factory.Sequence(lambda n: f"fac-{n}")
    name = factory.LazyAttribute(lambda o: f"Facility {o.code}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user-{n}")
    full_name = factory.LazyAttribute(lambda o: f"User {o.username}")
    password = factory.django.Password("pw-for-tests-123")
