"""Fast data for the read and replay benchmarks: a big tenant whose store holds N events.

Going through the API would take hours for a million events, so the store is grown by COPY:

1. A real OPD visit runs through the services in tenant `big` (13 events today, with the
   policies' task and billing events) and becomes the *template*; a second visit is left in
   consultation as the *probe* encounter whose timeline the timeline benchmark pages through.
2. The template is copied N/13 times with fresh ids (patient, encounter, vitals, tasks, charge,
   event ids, causation links), new positions and timestamps, and hash chains recomputed with
   `hm_core.events.hashing.event_hash` — `verify_chain` accepts the result. Each copy's
   registration is made afresh by the patients domain (`domain.register`: a new name and MRN,
   the name split, phone sealed and blind-indexed exactly as a live `patient.registered` v3 and
   its projection hold them). Every ~N/200 events a vitals event for the probe is interleaved,
   so the probe's entries lie spread over the whole store ("an encounter deep in a big store").
3. Events, their timeline entries and the patients' read-model rows go in by three concurrent
   `COPY ... FROM STDIN` streams; patients beyond the visits' own come as read-model rows only
   (the search benchmark reads nothing else), made by the same domain and projection code.
   Audit records, encounter and task rows of the copies are not generated: no benchmark reads
   them, and `rebuild_projections` rebuilds them from the events.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import BIG_TENANT, django_setup, dsn, say

UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PROBE_REASON = "bench probe: long stay, entries spread over the store"
BATCH_ROWS = 4000

EVENT_COLUMNS = (
    "id, tenant_id, facility_id, stream_type, stream_id, stream_version, position, type, "
    "schema_version, payload, metadata, actor_id, actor_username, request_id, correlation_id, "
    "causation_id, occurred_at, recorded_at, prev_hash, hash"
)
TIMELINE_COLUMNS = (
    "tenant_id, facility_id, event_id, position, patient_id, encounter_id, tenant_wide, "
    "event_type, occurred_at, actor_id, actor_username, stream_type, stream_id, summary, data"
)
# The patient read model's columns as `patient_apply_registered` fills them (its own `_columns`
# computes the encrypted fields' columns and blind indexes, see `patient_row`).
PATIENT_COLUMNS = (
    "tenant_id",
    "facility_id",
    "id",
    "mrn",
    "full_name",
    "given_name",
    "middle_name",
    "family_name",
    "date_of_birth",
    "gender",
    "phone_encrypted",
    "email_encrypted",
    "national_id_encrypted",
    "address_encrypted",
    "phone_index",
    "email_index",
    "national_id_index",
    "emergency_contact_name",
    "emergency_contact_relationship",
    "emergency_contact_phone",
    "confidential",
    "version",
    "is_deleted",
    "deleted_at",
    "created_at",
    "updated_at",
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ada Alan Alice Amara Amir Ana Anna Arjun Aya Beatriz Ben Carla Carlos Chen Chloe Clara "
    "Daniel David Diego Dmitri Elena Eli Emma Eva Farah Felix Fatima Grace Hana Hugo Ines Ivan "
    "Jack James Jana Javier Jin Joao Jonas Julia Kai Karim Kenji Lara Leila Leo Lina Luca Lucia "
    "Maya Marco Maria Mateo Mei Mia Mohammed Nadia Nia Noah Nora Olga Omar Paula Pedro Priya "
    "Rafael Rania Ravi Rosa Ruth Sam Sara Sofia Tariq Theo Tomas Uma Vera Victor Wei Yara Yusuf "
    "Zara Zoe"
)
SURNAME_HEADS = _words(
    "Ab Ad Al An Ar Ba Be Bo Br Ca Ch Co Da De Do El Fa Fe Ga Go Ha He Ja Jo Ka Ko La Le Lo Ma "
    "Me Mo Na No Pa Pe Ra Ro Sa Sc Se St Ta To Va Vo Wa We Ya Za"
)
SURNAME_MIDDLES = _words(
    "bar cer dan fel gor har kin lan mer nov par ren sal tan var wel zar ber den lin"
)
SURNAME_TAILS = _words("son ez ova ski ian ley berg ton ani eau")


def full_name(rng: random.Random) -> str:
    """A plausible name from 84 first names and 10,000 surnames (head + middle + tail)."""
    surname = rng.choice(SURNAME_HEADS) + rng.choice(SURNAME_MIDDLES) + rng.choice(SURNAME_TAILS)
    return f"{rng.choice(FIRST_NAMES)} {surname}"


# ---------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class TemplateEvent:
    """One stored event of the template visit and its timeline entry, as plain columns."""

    row: dict[str, Any]
    timeline: dict[str, Any] | None


@dataclass(frozen=True)
class Templates:
    visit: list[TemplateEvent]
    visit_ids: frozenset[str]  # every entity and event id of the visit, remapped per copy
    probe: TemplateEvent  # one vitals event of the probe encounter
    probe_encounter: str
    probe_version: int


def capture(tenant: str) -> Templates:
    """Run the template visit and the probe visit through the services; read back their rows."""
    from bench.world import encounter_in_consult, new_mrn, opd_visit, scope_for, tenant_info
    from hm_core.events.models import Event, TenantEventHead

    info = tenant_info(tenant)
    nurse, doctor = scope_for(info, "nurse", "bench-gen"), scope_for(info, "doctor", "bench-gen")
    head = TenantEventHead.objects.filter(tenant_id=info.tenant_id).first()
    before = head.position if head else 0
    opd_visit(nurse, doctor, mrn=new_mrn("TPL"))
    visit = _stored_since(info.tenant_id, before)
    probe_id = encounter_in_consult(nurse, doctor, mrn=new_mrn("PRB"), reason=PROBE_REASON)
    probe_rows = Event.objects.filter(
        tenant_id=info.tenant_id, stream_id=probe_id, type="encounter.vitals_recorded"
    ).values_list("position", flat=True)
    probe = _stored_since(info.tenant_id, probe_rows[0] - 1)[0]
    probe_version = Event.objects.filter(tenant_id=info.tenant_id, stream_id=probe_id).count()
    ids = {str(e.row["id"]) for e in visit} | {str(e.row["stream_id"]) for e in visit}
    for event in visit:
        ids |= set(_uuids_in(event.row["payload"]))
    return Templates(visit, frozenset(ids), probe, str(probe_id), probe_version)


def _stored_since(tenant_id: uuid.UUID, position: int) -> list[TemplateEvent]:
    from hm_core.events.models import Event
    from hm_core.timeline.models import TimelineEntry

    rows = list(
        Event.objects.filter(tenant_id=tenant_id, position__gt=position)
        .order_by("position")
        .values()
    )
    entries = {
        str(t["event_id"]): t
        for t in TimelineEntry.all_tenants.filter(event_id__in=[r["id"] for r in rows]).values()
    }
    return [TemplateEvent(row=r, timeline=entries.get(str(r["id"]))) for r in rows]


def _uuids_in(value: Any) -> Iterator[str]:
    if isinstance(value, str) and UUID_TEXT.match(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _uuids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _uuids_in(item)


def remap(value: Any, ids: dict[str, str]) -> Any:
    """The value with every id string of the template replaced by the copy's id."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, dict):
        return {key: remap(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [remap(item, ids) for item in value]
    return value


# ---------------------------------------------------------------------------- COPY encoding


def esc(text: str) -> str:
    """Escape a value for COPY's text format (backslash, tab, newline, carriage return)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def opt(value: Any) -> str:
    return "\\N" if value is None else str(value)


def ts(value: datetime) -> str:
    from hm_core.common.time import isoformat

    return isoformat(value)


@dataclass
class Chain:
    """The tenant's chain as the generator extends it."""

    position: int
    hash: str


@dataclass
class Batches:
    """Text buffers for the three COPY streams, flushed every BATCH_ROWS rows."""

    events: list[str]
    timeline: list[str]
    patients: list[str]


# ---------------------------------------------------------------------------- the generator


@dataclass(frozen=True)
class Plan:
    visit_events: int  # events of one visit copy (the template visit's)
    visits: int
    probe_entries: int
    bulk_patients: int
    probe_every: int


def plan(
    events_to_add: int, patients_total: int, existing_patients: int, probe: int, visit_events: int
) -> Plan:
    """How many visit copies and probe entries make exactly `events_to_add` events."""
    probe = min(probe, events_to_add)
    visits = (events_to_add - probe) // visit_events
    probe += events_to_add - probe - visits * visit_events  # the remainder goes to the probe
    bulk = max(patients_total - existing_patients - visits, 0)
    every = max((visits * visit_events + probe) // max(probe, 1), 1)
    return Plan(visit_events, visits, probe, bulk, every)


class Generator:
    """Produces the COPY text of visit copies, probe entries and bulk patients in order."""

    def __init__(
        self, templates: Templates, chain: Chain, the_plan: Plan, seed: int, mrn_prefix: str
    ) -> None:
        self.t = templates
        self.mrn_prefix = mrn_prefix
        self.chain = chain
        self.plan = the_plan
        self.rng = random.Random(seed)
        self.clock = datetime.now(tz=UTC) - timedelta(days=400)
        self.today = datetime.now(tz=UTC).date()
        self.probe_version = templates.probe_version
        self.visit_index = 0
        self.patients = 0

    def rows(self) -> Iterator[tuple[str, str | None, str | None]]:
        """(event line, timeline line or None, patient line or None) in position order."""
        slots = self.plan.visits * self.plan.visit_events + self.plan.probe_entries
        probes_left = self.plan.probe_entries
        pending: list[tuple[str, str | None, str | None]] = []
        for slot in range(slots):
            due = slot % self.plan.probe_every == self.plan.probe_every // 2
            if probes_left and (due or slots - slot == probes_left):
                probes_left -= 1
                yield self._probe()
                continue
            if not pending:
                pending = self._visit()
            yield pending.pop(0)

    def _tick(self) -> datetime:
        self.clock += timedelta(milliseconds=37)
        return self.clock

    def _visit(self) -> list[tuple[str, str | None, str | None]]:
        self.visit_index += 1
        ids = {old: str(uuid.uuid4()) for old in self.t.visit_ids}
        out = []
        for template in self.t.visit:
            row = template.row
            payload = remap(row["payload"], ids)
            patient_line, summary = None, None
            when = self._tick()
            if row["type"] == "patient.registered":
                payload, summary, patient_line = self._registered(payload)
            out.append(
                self._event(row, payload, ids, when, template.timeline, patient_line, summary)
            )
        return out

    def _registered(self, payload: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        """A copied registration with fresh demographics, made by the patients domain itself
        (`domain.register`: name split, phone sealed as in `patient.registered` v3): the stored
        payload, the timeline summary and the patient row."""
        event = self._registration(
            patient_id=payload["patient_id"],
            mrn=f"{self.mrn_prefix}V{self.visit_index:07d}",
            gender=payload["gender"],
        )
        return event.to_payload(), event.summary(), self._patient_line(event, self.clock)

    def _registration(self, *, patient_id: Any, mrn: str, gender: str) -> Any:
        from hm_core.patients import domain

        demographics = {
            "mrn": mrn,
            "full_name": full_name(self.rng),
            "date_of_birth": self._birth_date(),
            "gender": gender,
            "phone": f"+1 555 {self.rng.randrange(10**7):07d}",
            "email": "",
        }
        (event,) = domain.register(
            patient_id=uuid.UUID(str(patient_id)), demographics=demographics, today=self.today
        )
        return event

    def _birth_date(self) -> date:
        return date(1930, 1, 1) + timedelta(days=self.rng.randrange(34_000))

    def _patient_line(self, event: Any, when: datetime) -> str:
        """The row `patient_apply_registered` writes for `event` (stream version 1)."""
        from hm_core.patients.projections import _columns

        self.patients += 1
        columns = _columns(event.model_dump(exclude={"patient_id"}))
        row = {
            **columns,
            "tenant_id": self.tenant,
            "facility_id": self.facility,
            "id": event.patient_id,
            "version": 1,
            "is_deleted": False,
            "deleted_at": None,
            "created_at": when,
            "updated_at": when,
        }
        return "\t".join(_copy_value(row[name]) for name in PATIENT_COLUMNS) + "\n"

    @property
    def tenant(self) -> str:
        return str(self.t.visit[0].row["tenant_id"])

    @property
    def facility(self) -> str:
        return str(self.t.visit[0].row["facility_id"])

    def _probe(self) -> tuple[str, str | None, str | None]:
        template = self.t.probe
        ids = {
            str(template.row["id"]): str(uuid.uuid4()),
            template.row["payload"]["vitals_id"]: str(uuid.uuid4()),
        }
        payload = remap(template.row["payload"], ids)
        self.probe_version += 1
        row = {**template.row, "stream_version": self.probe_version}
        return self._event(row, payload, ids, self._tick(), template.timeline, None)

    def _event(
        self,
        row: dict[str, Any],
        payload: dict[str, Any],
        ids: dict[str, str],
        when: datetime,
        timeline: dict[str, Any] | None,
        patient_line: str | None,
        summary: str | None = None,
    ) -> tuple[str, str | None, str | None]:
        from hm_core.events.hashing import event_hash

        event_id = ids[str(row["id"])]
        stream_id = ids.get(str(row["stream_id"]), str(row["stream_id"]))
        correlation = _mapped(row["correlation_id"], ids)
        causation = _mapped(row["causation_id"], ids)
        position = self.chain.position + 1
        digest = event_hash(
            event_id=event_id,  # type: ignore[arg-type]
            tenant_id=row["tenant_id"],
            facility_id=row["facility_id"],
            stream_type=row["stream_type"],
            stream_id=stream_id,  # type: ignore[arg-type]
            stream_version=row["stream_version"],
            position=position,
            type=row["type"],
            schema_version=row["schema_version"],
            payload=payload,
            metadata=row["metadata"],
            actor_id=row["actor_id"],
            actor_username=row["actor_username"],
            request_id=row["request_id"],
            correlation_id=correlation,  # type: ignore[arg-type]
            causation_id=causation,  # type: ignore[arg-type]
            occurred_at=when,
            recorded_at=when,
            prev_hash=self.chain.hash,
        )
        stamp = ts(when)
        data = esc(json.dumps(payload, ensure_ascii=False))
        event_line = (
            f"{event_id}\t{row['tenant_id']}\t{row['facility_id']}\t{row['stream_type']}\t"
            f"{stream_id}\t{row['stream_version']}\t{position}\t{row['type']}\t"
            f"{row['schema_version']}\t{data}\t{esc(json.dumps(row['metadata']))}\t"
            f"{opt(row['actor_id'])}\t{esc(row['actor_username'])}\t{esc(row['request_id'])}\t"
            f"{opt(correlation)}\t{opt(causation)}\t{stamp}\t{stamp}\t{self.chain.hash}\t{digest}\n"
        )
        self.chain.position, self.chain.hash = position, digest
        timeline_line = None
        if timeline is not None:
            summary = summary or timeline["summary"]
            timeline_line = (
                f"{row['tenant_id']}\t{row['facility_id']}\t{event_id}\t{position}\t"
                f"{opt(_mapped(timeline['patient_id'], ids))}\t"
                f"{opt(_mapped(timeline['encounter_id'], ids))}\t"
                f"{'t' if timeline['tenant_wide'] else 'f'}\t{row['type']}\t{stamp}\t"
                f"{opt(row['actor_id'])}\t{esc(row['actor_username'])}\t{row['stream_type']}\t"
                f"{stream_id}\t{esc(summary[:500])}\t{data}\n"
            )
        return event_line, timeline_line, patient_line

    def bulk_patients(self) -> Iterator[str]:
        """Read-model-only patients: MRN-0000001..., names and phones at random, registered by
        the domain like the visits' patients (so their rows are what the projection writes)."""
        when = self.clock
        for index in range(1, self.plan.bulk_patients + 1):
            event = self._registration(
                patient_id=uuid.uuid4(), mrn=f"{self.mrn_prefix}{index:07d}", gender="MF"[index % 2]
            )
            when += timedelta(milliseconds=3)
            yield self._patient_line(event, when)


def _copy_value(value: Any) -> str:
    """One value in COPY's text format (None is NULL, booleans t/f, datetimes as stored)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, date):
        return value.isoformat()
    return esc(str(value))


def _mapped(value: Any, ids: dict[str, str]) -> str | None:
    if value is None:
        return None
    return ids.get(str(value), str(value))


# ---------------------------------------------------------------------------- loading


def load(
    templates: Templates, the_plan: Plan, seed: int, db_name: str, mrn_prefix: str
) -> tuple[Chain, int]:
    """Stream the generated rows into the database by three concurrent COPYs; commit together."""
    import psycopg

    from hm_core.events.models import TenantEventHead

    tenant = templates.visit[0].row["tenant_id"]
    head = TenantEventHead.objects.get(tenant_id=tenant)
    chain = Chain(head.position, head.hash)
    gen = Generator(templates, chain, the_plan, seed, mrn_prefix)
    conns = [psycopg.connect(dsn(db_name)) for _ in range(3)]
    try:
        with (
            conns[0].cursor().copy(f"COPY events_event ({EVENT_COLUMNS}) FROM STDIN") as ev,
            conns[1]
            .cursor()
            .copy(f"COPY timeline_timelineentry ({TIMELINE_COLUMNS}) FROM STDIN") as tl,
            conns[2]
            .cursor()
            .copy(f"COPY patients_patient ({', '.join(PATIENT_COLUMNS)}) FROM STDIN") as pt,
        ):
            out = Batches([], [], [])
            for event_line, timeline_line, patient_line in gen.rows():
                out.events.append(event_line)
                if timeline_line:
                    out.timeline.append(timeline_line)
                if patient_line:
                    out.patients.append(patient_line)
                if len(out.events) >= BATCH_ROWS:
                    _flush(out, ev, tl, pt)
            for patient_line in gen.bulk_patients():
                out.patients.append(patient_line)
                if len(out.patients) >= BATCH_ROWS:
                    _flush(out, ev, tl, pt)
            _flush(out, ev, tl, pt)
        conns[0].execute(
            "UPDATE events_tenant_head SET position = %s, hash = %s WHERE tenant_id = %s",
            [chain.position, chain.hash, tenant],
        )
        conns[0].execute(
            "UPDATE encounters_encounter SET version = %s, vitals_count = %s WHERE id = %s",
            [gen.probe_version, gen.probe_version - 3, templates.probe_encounter],
        )
        for conn in conns:
            conn.commit()
    finally:
        for conn in conns:
            conn.close()
    return chain, gen.patients


def _flush(out: Batches, ev: Any, tl: Any, pt: Any) -> None:
    for lines, copy in ((out.events, ev), (out.timeline, tl), (out.patients, pt)):
        if lines:
            copy.write("".join(lines).encode())
            lines.clear()


def analyze(db_name: str) -> None:
    """VACUUM ANALYZE the loaded tables (fresh statistics and visibility maps, as in a live
    system that autovacuum has caught up with), then CHECKPOINT, so that the benchmarks after
    the load do not compete with the checkpointer flushing it."""
    import psycopg

    with psycopg.connect(dsn(db_name), autocommit=True) as conn:
        for table_name in (
            "events_event",
            "timeline_timelineentry",
            "patients_patient",
            "encounters_encounter",
            "events_tenant_head",
        ):
            conn.execute(f"VACUUM ANALYZE {table_name}")
        conn.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--events", type=int, required=True, help="events of the big tenant")
    parser.add_argument("--patients", type=int, required=True, help="patients of the big tenant")
    parser.add_argument("--probe", type=int, default=200, help="probe timeline entries")
    parser.add_argument("--seed", type=int, default=20301)
    parser.add_argument("--verify", action="store_true", help="verify_event_chain afterwards")
    args = parser.parse_args()
    django_setup(args.db)
    from bench.world import tenants_ensure
    from hm_core.events.models import TenantEventHead
    from hm_core.patients.models import Patient

    started = time.perf_counter()
    info = tenants_ensure([BIG_TENANT])[BIG_TENANT]
    templates = capture(BIG_TENANT)
    head = TenantEventHead.objects.get(tenant_id=info.tenant_id)
    existing = Patient.all_tenants.filter(tenant_id=info.tenant_id).count()
    the_plan = plan(
        args.events - head.position, args.patients, existing, args.probe, len(templates.visit)
    )
    from django.db import connection

    connection.close()
    # MRNs are unique per tenant: a second load into the same tenant needs its own prefix.
    prefix = "MRN-" if existing <= 2 else f"MRN-{head.position}-"
    chain, new_patients = load(templates, the_plan, args.seed, args.db, prefix)
    loaded = time.perf_counter() - started
    analyze(args.db)
    by_services = chain.position - the_plan.visits * the_plan.visit_events - the_plan.probe_entries
    say(
        f"  gen {args.db}: {chain.position:,} events ({the_plan.visits:,} visits x "
        f"{the_plan.visit_events} + "
        f"{the_plan.probe_entries} probe entries + {by_services} via services), "
        f"{existing + new_patients:,} patients "
        f"({the_plan.bulk_patients:,} read-model only) in {loaded:.1f}s "
        f"({chain.position / loaded:,.0f} events/s incl. timeline + patients), "
        f"VACUUM ANALYZE + CHECKPOINT {time.perf_counter() - started - loaded:.1f}s"
    )
    if args.verify:
        verify(info.tenant_id, chain)


def verify(tenant_id: uuid.UUID, chain: Chain) -> None:
    """Run the application's own chain check over the generated store."""
    from hm_core.events.chain import verify_chain

    started = time.perf_counter()
    report = verify_chain(tenant_id)
    seconds = time.perf_counter() - started
    status = "ok" if report.ok else f"BROKEN {report.first_broken}"
    say(f"  verify_chain: {report.events_checked:,} events {status} in {seconds:.1f}s")
    if not report.ok or report.head_hash != chain.hash:
        raise SystemExit("generated chain does not verify")


if __name__ == "__main__":
    main()
