"""Baton's benchmarks: the real app, a fake Slack on 127.0.0.1, SQLite and PostgreSQL.

Run them with `python -m bench` (see BENCHMARKS.md for the figures and what they mean). The
data generator alone is `python -m bench.data`.
"""
