"""Every mapper registers itself on import; `FhirConfig.ready` imports this package."""

from hm_core.fhir.mappers import clinical, encounter, observation, patient, records  # noqa: F401
