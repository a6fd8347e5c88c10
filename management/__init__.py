"""Operator commands (`python manage.py <command>`): bootstrap, backfill, rebuild, verify.

One place for every command an operator runs; each calls module services, never the ORM of
another module directly. Commands live in `management/management/commands/` because Django
discovers them under `<app>/management/commands`.
"""
