"""Persistence: tables, engine and sessions, queries, migrations."""
