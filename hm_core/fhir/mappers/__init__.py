"""Every mapper registers itself on import; `FhirConfig.ready` imports this package."""

from hm_core.fhir.mappers import (  # noqa: F401
    billing,
    clinical,
    consent,
    encounter,
    observation,
    patient,
    records,
    scheduling,
)
