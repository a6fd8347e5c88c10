-- Care-team rows for the generated big store, as a live hospital has them (`bench/gen.py`
-- writes no encounter, order or task rows for its copies): 300,000 encounters of random
-- patients (5 % open) and one per generated visit, two timeline entries on each new encounter
-- (by the nurse, the doctor or nobody), 100,000 orders (5 % PLACED) and 100,000 tasks (10 %
-- active) partly theirs, 0.1 % of patients confidential, 50 of them patients the nurse works on.
-- The confidentiality check of patient search (hm_core/patients/access.py) reads these tables:
-- without them it costs nothing. Used for docs/performance.md, "Patient search and the
-- confidentiality check"; run it by hand on a kept store (BENCH_KEEP_DB=1):
--   psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -f bench/care_team_rows.sql <big store>
-- About two minutes on the two-core machine. Not part of `make bench`.
SET row_security = off;
SELECT id AS tenant FROM iam_tenant WHERE slug = 'big' \gset
SELECT id AS nurse FROM iam_user WHERE username = 'nurse@big' \gset
SELECT id AS doctor FROM iam_user WHERE username = 'doctor@big' \gset
CREATE TEMP TABLE pick AS
  SELECT id AS patient_id, facility_id, row_number() OVER () AS n
  FROM (SELECT id, facility_id FROM patients_patient WHERE tenant_id = :'tenant'
        ORDER BY random() LIMIT 300000) s;
UPDATE patients_patient SET confidential = true WHERE id IN (
  SELECT id FROM patients_patient WHERE tenant_id = :'tenant' AND mrn LIKE 'MRN-%'
  ORDER BY md5(id::text) LIMIT (SELECT count(*) / 1000 FROM patients_patient));
-- the generated visits' own encounters (their timeline entries name them), 5 % open
INSERT INTO encounters_encounter (tenant_id, facility_id, id, patient_id, status, reason,
  scheduled_at, cancel_reason, assessment, plan, vitals_count, version, created_at, updated_at,
  visit_number, diagnoses)
SELECT DISTINCT ON (t.encounter_id) t.tenant_id, t.facility_id, t.encounter_id, t.patient_id,
  CASE WHEN random() < 0.05 THEN 'IN_CONSULT' ELSE 'CLOSED' END, 'Cough', t.occurred_at,
  '', '', '', 0, 1, t.occurred_at, t.occurred_at, '', '[]'::jsonb
FROM timeline_timelineentry t
WHERE t.tenant_id = :'tenant' AND t.encounter_id IS NOT NULL AND t.patient_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM encounters_encounter e WHERE e.id = t.encounter_id)
ORDER BY t.encounter_id;
-- 300,000 more encounters of random patients, 5 % open
INSERT INTO encounters_encounter (tenant_id, facility_id, id, patient_id, status, reason,
  scheduled_at, cancel_reason, assessment, plan, vitals_count, version, created_at, updated_at,
  visit_number, diagnoses)
SELECT :'tenant', p.facility_id, gen_random_uuid(), p.patient_id,
  CASE WHEN random() < 0.05 THEN (ARRAY['SCHEDULED', 'CHECKED_IN', 'IN_CONSULT'])[1 + p.n % 3]
       ELSE 'CLOSED' END,
  'Visit', now() - (p.n || ' minutes')::interval, '', '', '', 0, 1, now(), now(), '', '[]'::jsonb
FROM pick p;
-- two timeline entries per new encounter: the nurse's, the doctor's or nobody's
INSERT INTO timeline_timelineentry (tenant_id, facility_id, event_id, position, patient_id,
  encounter_id, tenant_wide, event_type, occurred_at, actor_id, actor_username, stream_type,
  stream_id, summary, data)
SELECT e.tenant_id, e.facility_id, gen_random_uuid(), 10000000 + row_number() OVER (),
  e.patient_id, e.id, false, 'encounter.note', e.scheduled_at,
  CASE (k + abs(hashtext(e.id::text))) % 3 WHEN 0 THEN :'nurse'::uuid
       WHEN 1 THEN :'doctor'::uuid END,
  '', 'encounter', e.id, 'note', '{}'::jsonb
FROM encounters_encounter e CROSS JOIN generate_series(0, 1) k
WHERE e.tenant_id = :'tenant' AND e.reason = 'Visit';
-- 100,000 orders, 5 % PLACED: half the doctor's, a quarter the nurse's
INSERT INTO orders_order (tenant_id, facility_id, id, encounter_id, patient_id, order_type,
  priority, status, ordered_by_id, ordered_by, cancel_reason, version, created_at, updated_at,
  placer_order_number)
SELECT e.tenant_id, e.facility_id, gen_random_uuid(), e.id, e.patient_id, 'LAB', 'ROUTINE',
  CASE WHEN random() < 0.05 THEN 'PLACED' ELSE 'COMPLETED' END,
  CASE WHEN random() < 0.5 THEN :'doctor'::uuid WHEN random() < 0.5 THEN :'nurse'::uuid END,
  '', '', 1, now(), now(), ''
FROM encounters_encounter e WHERE e.tenant_id = :'tenant' AND e.reason = 'Visit' LIMIT 100000;
-- 100,000 tasks, 10 % active, a third the nurse's
INSERT INTO tasks_task (tenant_id, facility_id, id, encounter_id, patient_id, subject_id, kind,
  queue, title, status, assignee_id, assignee_username, version, created_at, updated_at)
SELECT e.tenant_id, e.facility_id, gen_random_uuid(), e.id, e.patient_id, e.id, 'record_vitals',
  'nursing', 'Vitals', CASE WHEN random() < 0.1 THEN 'OPEN' ELSE 'DONE' END,
  CASE WHEN random() < 0.33 THEN :'nurse'::uuid END, '', 1, now(), now()
FROM encounters_encounter e
WHERE e.tenant_id = :'tenant' AND e.reason = 'Visit' OFFSET 100000 LIMIT 100000;
-- 50 confidential patients the nurse has worked on (generated visits)
UPDATE patients_patient SET confidential = true WHERE id IN (
  SELECT DISTINCT patient_id FROM timeline_timelineentry
  WHERE tenant_id = :'tenant' AND actor_id = :'nurse' AND patient_id IS NOT NULL LIMIT 50);
VACUUM ANALYZE encounters_encounter;
VACUUM ANALYZE timeline_timelineentry;
VACUUM ANALYZE orders_order;
VACUUM ANALYZE tasks_task;
VACUUM ANALYZE patients_patient;
SELECT status, count(*) FROM encounters_encounter WHERE tenant_id = :'tenant' GROUP BY 1;
SELECT confidential, count(*) FROM patients_patient WHERE tenant_id = :'tenant' GROUP BY 1;
