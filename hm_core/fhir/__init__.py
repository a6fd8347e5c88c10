"""FHIR R4 API (contract §12): hm_core's read models and events served as FHIR resources."""
