"""Row-level security on PostgreSQL (contract §18): the database itself keeps tenants apart.

Every table with a `tenant_id` column has RLS enabled and forced, with the policy
`hm_tenant_isolation`: a row is visible (and may be written) only when its `tenant_id` equals
the session's `app.tenant_id`. No tenant set: no tenant rows. Tenant work runs as the role
`DB_APP_ROLE` (default `hm_app`: no table ownership, no BYPASSRLS, not superuser), so a
query that forgets its tenant filter sees nothing of another tenant.

Who runs as what is a context variable, `wanted()`, read by the database backend
(`hm_core.common.pg`) before each statement: when the session is not already in that state it
first runs one `set_config('role', ...), set_config('app.tenant_id', ...)` (a rollback makes
the backend set it again). Three states:

* `tenant(tenant_id)`: `DB_APP_ROLE` with that tenant. Entered by `scope_active(scope)` (every
  service command and scoped read, in requests, listeners, workers and commands), by the API's
  `ScopeAuth` for the rest of the request once the scope headers are read, and by the async
  drain of a tenant's subscriptions.
* `no_tenant()`: `DB_APP_ROLE` with no tenant; every web request starts in it
  (`RowLevelSecurityMiddleware`), so what a request reads before its scope sees no tenant rows.
* `system(reason)`: the connecting user (the tables' owner, whose policy `hm_owner_access`
  lets it through), for the deliberate cross-tenant paths: migrations, processes that are not
  web requests until they take a tenant (listeners routing a message by MLLP channel or AE
  title, the reconciler finding lagging tenants, `verify_event_chain` over every tenant,
  `rebuild_projections`, tests' fixtures), a user's own memberships across tenants (`/me`),
  the health check's totals, the Django admin (superusers). `unscoped(reason)` enters it too.

SQLite has no RLS: there the scoped managers (`common.models`) are the guard, and this module
does nothing. docs/integrity.md describes the model and its limits.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

ISOLATION_POLICY = "hm_tenant_isolation"
OWNER_POLICY = "hm_owner_access"
# Tables the application may only append to: the event store, the audit records (PHI reads
# included) and the links that seal them into the audit-trail chain.
APPEND_ONLY_TABLES = ("events_event", "audit_auditrecord", "audit_audittraillink")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# (runs as DB_APP_ROLE?, tenant id or ""): what the next statement should run as.
State = tuple[bool, str]
SYSTEM: State = (False, "")
NO_TENANT: State = (True, "")

_wanted: contextvars.ContextVar[State] = contextvars.ContextVar("hm_rls", default=SYSTEM)


def enabled(vendor: str | None = None) -> bool:
    """RLS applies on PostgreSQL when `DB_ROW_LEVEL_SECURITY` is on and a role is named."""
    return (
        (vendor or connection.vendor) == "postgresql"
        and settings.HM_ROW_LEVEL_SECURITY
        and bool(settings.DB_APP_ROLE)
    )


def app_role() -> str:
    role = settings.DB_APP_ROLE
    if not _IDENTIFIER.match(role):
        raise ValueError(f"DB_APP_ROLE {role!r} is not a plain lower-case SQL identifier")
    return str(role)


def wanted() -> State:
    return _wanted.get()


@contextlib.contextmanager
def _entered(state: State) -> Iterator[None]:
    token = _wanted.set(state)
    try:
        yield
    finally:
        _wanted.reset(token)


def tenant(tenant_id: uuid.UUID | str) -> contextlib.AbstractContextManager[None]:
    """Run the block as `DB_APP_ROLE` with `app.tenant_id` set to this tenant."""
    return _entered((True, str(uuid.UUID(str(tenant_id)))))


def no_tenant() -> contextlib.AbstractContextManager[None]:
    """Run the block as `DB_APP_ROLE` with no tenant: no tenant rows at all."""
    return _entered(NO_TENANT)


def system(reason: str) -> contextlib.AbstractContextManager[None]:
    """Run the block as the connecting user: a deliberate cross-tenant path (say why)."""
    if not reason:
        raise ValueError("rls.system() needs a reason")
    return _entered(SYSTEM)


def reset() -> None:
    """Back to the connecting user, whatever was entered: for a thread reused for unrelated
    work (a test runner between tests, before the database is flushed as its owner)."""
    _wanted.set(SYSTEM)


def enter_tenant_for_request(tenant_id: uuid.UUID) -> None:
    """The API's scope: the rest of this request runs under its tenant (the middleware that
    started the request in `no_tenant()` restores the previous state when it ends)."""
    _wanted.set((True, str(tenant_id)))


class RowLevelSecurityMiddleware:
    """Every web request starts as `DB_APP_ROLE` with no tenant; the Django admin (platform
    superusers onboarding tenants) is a system path."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        state = SYSTEM if request.path.startswith("/admin/") else NO_TENANT
        token = _wanted.set(state)
        try:
            return self.get_response(request)
        finally:
            _wanted.reset(token)


# --- what the backend runs -------------------------------------------------------------------

SET_STATE_SQL = "SELECT set_config('role', %s, false), set_config('app.tenant_id', %s, false)"


def state_params(state: State) -> list[str]:
    as_app, tenant_id = state
    return [app_role() if as_app else "none", tenant_id]


# --- role, grants and policies (migrations and post_migrate) ---------------------------------


def create_app_role(schema_editor: Any) -> None:
    """Create `DB_APP_ROLE` (NOLOGIN, no superuser, no BYPASSRLS, owns nothing) if missing, and
    let the connecting user SET ROLE to it. Roles are cluster-wide: concurrent test databases
    may race to create it, which is fine."""
    if not enabled(schema_editor.connection.vendor):
        return
    role = app_role()  # a checked plain identifier: safe to put in the statements
    for template in (_CREATE_ROLE, _GRANT_ROLE_TO_MIGRATOR):
        schema_editor.execute(template.replace("ROLE_NAME", role), params=None)


_CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ROLE_NAME') THEN
        CREATE ROLE ROLE_NAME NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
"""
_GRANT_ROLE_TO_MIGRATOR = """
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'ROLE_NAME', 'MEMBER') THEN
        EXECUTE format('GRANT ROLE_NAME TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN NULL;
END $$;
"""


def tenant_tables(cursor: Any) -> list[dict[str, Any]]:
    """Every table of the current schema with a `tenant_id` column and its RLS state."""
    cursor.execute(
        """
        SELECT c.relname, format_type(a.atttypid, a.atttypmod), c.relrowsecurity,
               c.relforcerowsecurity,
               EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = %s)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
             AND NOT a.attisdropped
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        ORDER BY c.relname
        """,
        [ISOLATION_POLICY],
    )
    return [
        {"table": t, "type": typ, "enabled": e, "forced": f, "policy": p}
        for t, typ, e, f, p in cursor.fetchall()
    ]


def apply_policies(using: str = "default") -> list[str]:
    """Grant `DB_APP_ROLE` what it needs and put RLS on every tenant table that lacks it.
    Idempotent; run after every `migrate` (post_migrate), so tables other modules add later
    are covered without a migration of their own. Returns the tables it secured."""
    from django.db import connections

    conn = connections[using]
    if not enabled(conn.vendor):
        return []
    role = app_role()
    secured = []
    with system("migrations run as the connecting user"), conn.cursor() as cursor:
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
        )
        cursor.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
        )
        # Events and the audit trail are append-only for the application, whatever the
        # triggers do (and it owns neither the tables nor the triggers, so it cannot drop them).
        for append_only in APPEND_ONLY_TABLES:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [append_only])
            if cursor.fetchone()[0]:
                cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {role}")
        for table in tenant_tables(cursor):
            if table["enabled"] and table["forced"] and table["policy"]:
                continue
            name = conn.ops.quote_name(table["table"])
            tenant = f"NULLIF(current_setting('app.tenant_id', true), '')::{table['type']}"
            cursor.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS {ISOLATION_POLICY} ON {name}")
            cursor.execute(
                f"CREATE POLICY {ISOLATION_POLICY} ON {name} "
                f"USING (tenant_id = {tenant}) WITH CHECK (tenant_id = {tenant})"
            )
            cursor.execute(f"DROP POLICY IF EXISTS {OWNER_POLICY} ON {name}")
            cursor.execute(
                f"CREATE POLICY {OWNER_POLICY} ON {name} TO CURRENT_USER "
                "USING (true) WITH CHECK (true)"
            )
            secured.append(table["table"])
    return secured


# The functions of Django's case-insensitive lookups (`icontains`, `istartswith`, `iexact`:
# `UPPER(column) LIKE UPPER(%s)`), which patient, FHIR and catalogue searches apply to tenant
# rows. PostgreSQL checks a row-level-security policy before any condition that calls a function
# not marked LEAKPROOF, so such a condition can never be an index condition: under RLS every
# search read the whole tenant (1.3 s for an exact MRN at 1,000,000 patients) while the same
# query as the tables' owner used its trigram or prefix index (under 1 ms; docs/integrity.md).
# Both are leak-free for the row's value: `upper` returns a value for every text and raises
# nothing; `textlike` raises only for a malformed pattern, and hm_core's patterns are always
# its parameters, never a column. Only a superuser may mark them (once per database: pg_dump
# does not carry it, `migrate` does it again); `check --database default` warns when missing.
SEARCH_FUNCTIONS = ("upper(text)", "textlike(text,text)")


def leaky_search_functions(cursor: Any) -> list[str]:
    """The `SEARCH_FUNCTIONS` not marked LEAKPROOF in this database."""
    cursor.execute(
        "SELECT oid::regprocedure::text FROM pg_proc "
        "WHERE oid = ANY(%s::regprocedure[]) AND NOT proleakproof",
        [[f"pg_catalog.{f}" for f in SEARCH_FUNCTIONS]],
    )
    return [row[0] for row in cursor.fetchall()]


def is_superuser(cursor: Any) -> bool:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    return bool(cursor.fetchone()[0])


def mark_search_functions_leakproof(using: str = "default") -> list[str]:
    """Mark the search functions LEAKPROOF where the connecting user is a superuser; returns
    those still not marked (a managed database whose owner is not a superuser: its searches
    scan the tenant until an administrator runs the ALTERs docs/integrity.md gives)."""
    from django.db import connections

    conn = connections[using]
    if not enabled(conn.vendor):
        return []
    with system("migrations run as the connecting user"), conn.cursor() as cursor:
        leaky = leaky_search_functions(cursor)
        if leaky and is_superuser(cursor):
            for function in leaky:
                cursor.execute(f"ALTER FUNCTION pg_catalog.{function} LEAKPROOF")
            leaky = leaky_search_functions(cursor)
    return leaky


def check_search_functions(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[Any]:
    """System check (tag `database`: `migrate` and `check --database default` run it): the
    search functions are not LEAKPROOF and the connecting user cannot mark them."""
    from django.core.checks import Warning
    from django.db import connections

    if not databases or "default" not in databases or not enabled(connections["default"].vendor):
        return []
    with system("system check of the database"), connections["default"].cursor() as cursor:
        leaky = leaky_search_functions(cursor)
        superuser = is_superuser(cursor)
    if not leaky or superuser:  # a superuser's `migrate` marks them (post_migrate)
        return []
    return [
        Warning(
            f"{', '.join(leaky)} not LEAKPROOF: under row-level security every name or MRN "
            "search reads the whole tenant instead of its index.",
            hint="As a superuser: ALTER FUNCTION pg_catalog.upper(text) LEAKPROOF; "
            "ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF; (docs/integrity.md)",
            id="hm_core.W001",
        )
    ]


def post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    apply_policies(using)
    mark_search_functions_leakproof(using)
