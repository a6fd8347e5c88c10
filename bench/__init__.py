"""Benchmarks for hm_core: `make bench` (see docs/performance.md).

Every benchmark runs against two scratch PostgreSQL databases named per run
(`hm_core_bench_<run>` and `hm_core_bench_<run>_small`), which `bench.run` creates, migrates and
drops; never the dev SQLite file, the test databases, nor another run's databases.
"""
