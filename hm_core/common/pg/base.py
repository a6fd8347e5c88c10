"""Django's PostgreSQL backend that runs each statement as `common.rls.wanted()` says.

Before a statement, if the session is not in the wanted state (role and `app.tenant_id`), one
`set_config` statement puts it there, on a plain cursor of the same connection (a server-side
cursor of `.iterator()` must not carry it). The session state is remembered per connection; a
new connection starts as the connecting user with no tenant (a pooled one in an unknown state),
and a rollback (which undoes `set_config` made inside it) forgets what was set, so the next
statement sets it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from django.db.backends.postgresql import base

from hm_core.common import rls
from hm_core.common.pg.arrays import use_fast_lists

UNKNOWN = (None, None)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rls_session_state: Any = UNKNOWN
        self.rls_suspended = False
        self.execute_wrappers.append(self._rls_execute)

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if "context" in params:  # psycopg 3: the adapters every connection starts from
            use_fast_lists(params["context"])
        return params

    def init_connection_state(self) -> None:
        super().init_connection_state()
        # A new connection starts as the connecting user with no tenant; one taken from a pool
        # (OPTIONS["pool"]) keeps whatever its previous request set: unknown, so the first
        # statement sets the state it wants (a tenant request sets it anyway: no extra trip).
        self.rls_session_state = UNKNOWN if self.pool else rls.SYSTEM

    def _rollback(self) -> None:
        super()._rollback()  # type: ignore[misc]
        self.rls_session_state = UNKNOWN

    # Savepoint statements run as they are, whatever the state (the transaction may be failed).
    def _savepoint(self, sid: str) -> None:
        self._savepoint_statement(self.ops.savepoint_create_sql(sid))

    def _savepoint_commit(self, sid: str) -> None:
        self._savepoint_statement(self.ops.savepoint_commit_sql(sid))

    def _savepoint_rollback(self, sid: str) -> None:
        self._savepoint_statement(self.ops.savepoint_rollback_sql(sid))
        self.rls_session_state = UNKNOWN

    def _savepoint_statement(self, sql: str) -> None:
        """Django's way (through the execute wrappers), on a cursor opened only if a wrapper
        lets the statement through: a unit of work keeps a savepoint to itself until a write
        needs it, and a FHIR Bundle opens and releases one per resource."""
        self.ensure_connection()
        with self._rls_suspended(), self._prepare_cursor(_LazyCursor(self)) as cursor:  # type: ignore[attr-defined]
            cursor.execute(sql)

    @contextlib.contextmanager
    def _rls_suspended(self) -> Iterator[None]:
        self.rls_suspended = True
        try:
            yield
        finally:
            self.rls_suspended = False

    def _rls_execute(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        state = rls.wanted()
        if state != self.rls_session_state and not self.rls_suspended and rls.enabled("postgresql"):
            self.rls_session_state = UNKNOWN
            with self.connection.cursor() as cursor:
                cursor.execute(rls.SET_STATE_SQL, rls.state_params(state))
            self.rls_session_state = state
        return execute(sql, params, many, context)


class _LazyCursor:
    """A psycopg cursor of `wrapper`'s connection, opened on first use."""

    def __init__(self, wrapper: DatabaseWrapper) -> None:
        self._wrapper = wrapper
        self._cursor: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._cursor is None:
            self._cursor = self._wrapper.create_cursor()
        return getattr(self._cursor, name)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
