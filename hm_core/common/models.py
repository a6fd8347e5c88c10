"""Scoped models: every row carries `tenant_id` and `facility_id`, every query filters by scope.

`Model.objects.for_scope(scope)` is the one way read models are queried: it filters by tenant
(and by facility for facility-level data) and it refuses to run outside `scope_active()`.
`Model.all_tenants` is the visible opt-out for cross-tenant code (replay, admin, migrations).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from django.db import models

from hm_core.common.scope import Scope, assert_scope_active

ScopeLevel = Literal["tenant", "facility"]


class ScopedQuerySet(models.QuerySet[Any]):
    def for_scope(self, scope: Scope) -> ScopedQuerySet:
        """Rows visible to `scope`: the tenant's, and the facility's for facility-level data."""
        level: ScopeLevel = getattr(self.model, "scope_level", "facility")
        qs = self.filter(tenant_id=scope.tenant_id)
        if level == "facility":
            qs = qs.filter(facility_id=scope.facility_id)
        if scope.principal.restricted:
            qs = self._own_patient_only(qs, scope)
        return qs

    def _own_patient_only(self, qs: ScopedQuerySet, scope: Scope) -> ScopedQuerySet:
        """A patient's own account (role `patient`, contract §17) sees its own patient's rows
        and no row of a model that names no patient: it fails closed."""
        field = getattr(self.model, "patient_field", None) or (
            "patient_id" if _has_field(self.model, "patient_id") else None
        )
        if field is None or scope.principal.patient_id is None:
            return qs.none()
        return qs.filter(**{field: scope.principal.patient_id})


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(field.attname == name for field in model._meta.concrete_fields)


class ScopedManager(models.Manager[Any]):
    """Default manager of scoped models: fails closed outside an active scope."""

    def get_queryset(self) -> ScopedQuerySet:
        assert_scope_active(self.model._meta.label)
        return ScopedQuerySet(self.model, using=self._db)

    def for_scope(self, scope: Scope) -> ScopedQuerySet:
        return self.get_queryset().for_scope(scope)


class ScopedModel(models.Model):
    """Base of every read model that belongs to a tenant and a facility."""

    scope_level: ClassVar[ScopeLevel] = "facility"
    # The field naming the patient a row is about, for a patient's own account (None: a
    # `patient_id` column if the model has one; a model without one is hidden from it).
    patient_field: ClassVar[str | None] = None

    tenant_id = models.UUIDField(db_index=False)
    facility_id = models.UUIDField(db_index=False)

    objects = ScopedManager()
    # Cross-tenant access for replay, admin and migrations; callers say why with unscoped().
    all_tenants = models.Manager()  # noqa: DJ012

    class Meta:
        abstract = True
        base_manager_name = "all_tenants"
