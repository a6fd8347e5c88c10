"""Order error codes.

Own code: `duplicate_placer_order_number` (409: another order of the tenant already carries this
placer order number — HL7 ORC-2/OBR-2 — checked first and enforced by the database, so a lost
race is the same 409). From common errors: `invalid_transition` (409), `not_found` (404),
`validation_error` (422: an unknown service code, a service of another order type),
`version_mismatch` (412), `version_conflict` (409), `permission_denied` (403).
"""

from hm_core.common.errors import Conflict


class DuplicatePlacerOrderNumber(Conflict):
    default_code = "duplicate_placer_order_number"
    default_message = "Another order of this tenant already has this placer order number."
