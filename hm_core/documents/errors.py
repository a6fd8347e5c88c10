"""Clinical document error codes.

All from common errors: `invalid_transition` (409, `details.from` = the document's status, null
before it exists; `details.encounter_status` when the encounter forbids the write),
`version_mismatch` (412, If-Match), `version_conflict` (409, a lost race), `not_found` (404,
also for another facility's or tenant's document or encounter), `validation_error` (422:
payload not a JSON object or over 64 KB, doc_type not a code, missing reason) and
`forbidden` (403) when no signed-in person signs or amends.
"""
