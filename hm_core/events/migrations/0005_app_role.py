"""Row-level security (contract §18): the role tenant work runs as, `DB_APP_ROLE`.

PostgreSQL only. The role owns nothing, cannot bypass RLS and cannot log in; the connecting user
is made a member so that it may `SET ROLE` to it. Grants and the per-table policies are applied
after every `migrate` (`hm_core.common.rls.apply_policies`, post_migrate), so that tables added
by later migrations of any module are covered too.
"""

from typing import Any

from django.db import migrations

from hm_core.common import rls


def create_role(apps: Any, schema_editor: Any) -> None:
    rls.create_app_role(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("events", "0004_events_by_causation")]

    operations = [migrations.RunPython(create_role, migrations.RunPython.noop, elidable=False)]
