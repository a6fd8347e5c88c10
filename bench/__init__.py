"""Benchmarks for hm_core: `make bench` (see docs/performance.md).

Every benchmark runs against the scratch PostgreSQL databases `hm_core_bench` and
`hm_core_bench_small`, which `bench.run` creates, migrates and drops; never the dev SQLite file
nor the test databases.
"""
