"""Benchmark: DICOM C-STORE throughput and QIDO-RS latency (issue 13; goal ≥ 100 instances/s,
QIDO p99 < 50 ms).

C-STORE: `manage.py run_dicom_scp` in its own process on the scratch database; pynetdicom's
SCU sends 500 small instances (pydicom's MR_small.dcm, 9.8 kB, new UIDs each, one series per
association) in one association, then 500 over 4 concurrent associations. Each instance is
header-read, linked, written to storage and committed with its events before the SCP answers,
so the per-instance time is the full path. QIDO-RS: 100,000 instances (10,000 studies of 10)
bulk-inserted as read-model rows, then `GET /api/dicomweb/studies?...` through Django's test
client (the whole request path, no network) by PatientID, AccessionNumber, a StudyDate range,
ModalitiesInStudy, and the instances of one series.

Run alone: `BENCH_SCALE=small .venv/bin/python -m bench.bench_dicom [--db NAME]` (the database
is created, migrated and dropped unless BENCH_KEEP_DB=1).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from typing import Any

from bench.common import BENCH_DB, PYTHON, REPO, django_env, dsn, ms, percentile, say, table

INSTANCES, ASSOCIATIONS = 500, 4
QIDO_STUDIES, PER_STUDY, QIDO_SAMPLES = 10_000, 10, 200


def create_db(name: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = django_env(name)
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
    )


def drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_world(db: str) -> Any:
    from bench.common import django_setup

    django_setup(db)
    from bench.world import scope_for, tenants_ensure
    from hm_core.interop.services import channel_create

    info = tenants_ensure(["dicom"])["dicom"]
    channel_create(
        scope=scope_for(info, "admin"),
        name="bench modality",
        protocol="dicom",
        facility_id=info.facility_id,
        ae_title="BENCHCT",
    )
    return info


def start_scp(db: str, port: int, storage: str) -> subprocess.Popen[str]:
    env = {**django_env(db), "DICOM_STORAGE_ROOT": storage}
    process = subprocess.Popen(  # noqa: S603
        [PYTHON, "manage.py", "run_dicom_scp", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()  # "DICOM SCP HMCORE listening on ..."
    return process


def instances(count: int) -> list[Any]:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    template = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    study, series = generate_uid(), generate_uid()
    made = []
    for number in range(count):
        ds = pydicom.dcmread(io.BytesIO(_bytes(template)))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = number + 1
        made.append(ds)
    return made


def _bytes(ds: Any) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def send(port: int, datasets: list[Any], timings: list[float]) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import MRImageStorage  # type: ignore[attr-defined]

    ae = AE(ae_title="BENCHCT")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="HMCORE")
    assert assoc.is_established, "association refused"
    for ds in datasets:
        started = time.perf_counter()
        status = assoc.send_c_store(ds)
        timings.append(time.perf_counter() - started)
        assert status.Status == 0x0000, hex(status.Status)
    assoc.release()


def bench_store(port: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for associations in (1, ASSOCIATIONS):
        batches = [instances(INSTANCES // associations) for _ in range(associations)]
        timings: list[float] = []
        threads = [threading.Thread(target=send, args=(port, b, timings)) for b in batches]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        rows.append(
            [
                associations,
                len(timings),
                f"{len(timings) / elapsed:.0f}",
                ms(percentile(timings, 50)),
                ms(percentile(timings, 99)),
            ]
        )
    return rows


def fill_qido(info: Any) -> None:
    """100,000 instance rows (and their series and studies), bulk-inserted 1,000 studies a go."""
    from django.db import connection

    from hm_core.imaging.models import Instance, Series, Study

    rnd = random.Random(13)
    for chunk in range(0, QIDO_STUDIES, 1000):
        made = [_study_rows(info, n, rnd) for n in range(chunk, chunk + 1000)]
        Study.all_tenants.bulk_create([study for study, _, _ in made])
        Series.all_tenants.bulk_create([series for _, series, _ in made])
        Instance.all_tenants.bulk_create([row for _, _, rows in made for row in rows])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE imaging_study; ANALYZE imaging_series; ANALYZE imaging_instance")


def _study_rows(info: Any, n: int, rnd: random.Random) -> tuple[Any, Any, list[Any]]:
    """One study of PER_STUDY instances in one series, as read-model rows."""
    from django.utils import timezone

    from hm_core.imaging.models import Series, Study

    at, uid = timezone.now(), f"2.25.{n}{rnd.randrange(10**12)}"
    base = {"tenant_id": info.tenant_id, "facility_id": info.facility_id, "id": uuid.uuid4()}
    modality = rnd.choice(["CT", "MR", "DX", "US"])
    study = Study(
        **base,
        study_instance_uid=uid,
        accession_number=f"B{n:011d}",
        link="UNMATCHED",
        dicom_patient_id=f"P{n % 3000:06d}",
        patient_name=f"Bench^{n}",
        modalities=modality,
        study_date=date(2020, 1, 1) + timedelta(days=rnd.randrange(1500)),
        series_count=1,
        instance_count=PER_STUDY,
        version=1,
        received_at=at,
        updated_at=at,
    )
    series = Series(
        **{**base, "id": uuid.uuid4()},
        study_id=study.id,
        series_instance_uid=f"{uid}.1",
        modality=modality,
        series_number=1,
        instance_count=PER_STUDY,
        received_at=at,
    )
    return study, series, _instance_rows(base, uid, study.id, series.id, at)


def _instance_rows(base: dict[str, Any], uid: str, sid: Any, seid: Any, at: Any) -> list[Any]:
    from hm_core.imaging.models import Instance

    return [
        Instance(
            **{**base, "id": uuid.uuid4()},
            study_id=sid,
            series_id=seid,
            study_instance_uid=uid,
            series_instance_uid=f"{uid}.1",
            sop_instance_uid=f"{uid}.1.{i}",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            instance_number=i,
            storage_key="-",
            size=0,
            received_via="STOW",
            stored_at=at,
        )
        for i in range(1, PER_STUDY + 1)
    ]


def bench_qido(info: Any) -> list[list[object]]:
    from django.test import Client
    from ninja_jwt.tokens import AccessToken

    from hm_core.iam.models import User
    from hm_core.imaging.models import Study

    token = AccessToken.for_user(User.objects.get(username="doctor@dicom"))
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Tenant-ID": str(info.tenant_id),
        "X-Facility-ID": str(info.facility_id),
    }
    client, rnd = Client(), random.Random(7)
    # The bulk-inserted studies only (accession B<n>): the C-STORE step's studies share the
    # tenant and have series UIDs of their own, so "instances of a series" would miss them.
    bulk = Study.all_tenants.filter(tenant_id=info.tenant_id, accession_number__startswith="B0")
    sample = list(bulk.order_by("?")[:QIDO_SAMPLES])
    kinds = {
        "PatientID": lambda s: f"/api/dicomweb/studies?PatientID={s.dicom_patient_id}",
        "AccessionNumber": lambda s: f"/api/dicomweb/studies?AccessionNumber={s.accession_number}",
        "StudyDate (30 days)": lambda s: _date_range(s.study_date),
        "ModalitiesInStudy + limit 50": lambda s: (
            "/api/dicomweb/studies?ModalitiesInStudy=MR&limit=50"
        ),
        "instances of a series": lambda s: (
            f"/api/dicomweb/studies/{s.study_instance_uid}/series/"
            f"{s.study_instance_uid}.1/instances"
        ),
    }
    rows: list[list[object]] = []
    for kind, url_of in kinds.items():
        timings = []
        for study in rnd.sample(sample, len(sample)):
            started = time.perf_counter()
            response = client.get(url_of(study), headers=headers)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:200]
        rows.append([kind, len(timings), ms(percentile(timings, 50)), ms(percentile(timings, 99))])
    return rows


def _date_range(day: date) -> str:
    end = day + timedelta(days=30)
    return f"/api/dicomweb/studies?StudyDate={day:%Y%m%d}-{end:%Y%m%d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=f"{BENCH_DB}_dicom")
    db = parser.parse_args().db
    say(
        f"== dicom: C-STORE {INSTANCES} instances (1 and {ASSOCIATIONS} associations), "
        f"QIDO-RS over {QIDO_STUDIES * PER_STUDY:,} instances; database {db}"
    )
    create_db(db)
    storage = tempfile.mkdtemp(prefix="hm_bench_dicom_")
    try:
        info = setup_world(db)
        _run(db, info, storage)
    finally:
        if os.environ.get("BENCH_KEEP_DB") != "1":
            from django.db import connections

            connections.close_all()
            drop_db(db)
        shutil.rmtree(storage, ignore_errors=True)


def _run(db: str, info: Any, storage: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    scp = start_scp(db, port, storage)
    try:
        store_rows = bench_store(port)
    finally:
        scp.terminate()
        scp.wait(timeout=30)
    say(table(["associations", "instances", "instances/s", "p50 ms", "p99 ms"], store_rows))
    fill_qido(info)
    qido_rows = bench_qido(info)
    say(table(["QIDO-RS query", "requests", "p50 ms", "p99 ms"], qido_rows))
    worst = max(float(str(r[3])) for r in qido_rows)
    say(
        f"dicom: C-STORE {store_rows[0][2]} instances/s (1 assoc), {store_rows[1][2]}/s "
        f"({ASSOCIATIONS} assocs); QIDO-RS worst p99 {worst:.1f} ms over "
        f"{QIDO_STUDIES * PER_STUDY:,} instances"
    )


if __name__ == "__main__":
    main()
