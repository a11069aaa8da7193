"""The restored server's stand-in, shared by the drill and incident-restore tests (fixture
`restored_cluster` in conftest.py): a second real cluster on another loopback address with
production's port, so the canned ARM body's FQDN is the only thing that points the verifier at it."""
from __future__ import annotations

import psycopg

RESTORED_HOST = "127.0.0.2"
RESTORED_CONSULTATIONS = 290  # of the demo's 300: the restore point predates production's newest rows


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]
