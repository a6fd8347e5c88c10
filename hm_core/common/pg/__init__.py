"""PostgreSQL backend of hm_core: Django's, plus row-level security state (`common.rls`)."""
