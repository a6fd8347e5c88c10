"""SQL of the immutability triggers on `events_event`, per engine (used by migration 0002)."""

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION hm_events_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused on events_event', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_event_immutable
    BEFORE UPDATE OR DELETE ON events_event
    FOR EACH ROW EXECUTE FUNCTION hm_events_immutable();
"""

POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS events_event_immutable ON events_event;
DROP FUNCTION IF EXISTS hm_events_immutable();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER events_event_no_update BEFORE UPDATE ON events_event
    BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE refused on events_event'); END;
    """,
    """
    CREATE TRIGGER events_event_no_delete BEFORE DELETE ON events_event
    BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE refused on events_event'); END;
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS events_event_no_update;",
    "DROP TRIGGER IF EXISTS events_event_no_delete;",
]
