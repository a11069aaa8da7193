"""`make demo`: a real PostgreSQL with the demo database + Azurite, every check, the journal.

Starts what it needs on free ports, runs `python -m checks run` and `python -m checks journal`
against them exactly as a user would, and stops everything it started (even on Ctrl-C).
Azure targets (PostgreSQL server, storage account) are not configured here, so those checks
show as skipped with the reason.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.localstack import DEMO_SQL, Azurite, PostgresCluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def demo_env(cluster: PostgresCluster, azurite: Azurite, spool_dir: str | None = None) -> dict[str, str]:
    """The demo's settings; its own spool (a fresh temporary folder), never a user's pending runs."""
    return {
        "VERIFIER_SPOOL_DIR": spool_dir or tempfile.mkdtemp(prefix="medicapp-demo-spool-"),
        "AzureWebJobsStorage": azurite.connection_string,
        "JOURNAL_TABLE": "BackupJournal",
        "DATABASE_URL": cluster.url("verifier", "verifier-demo-pw", "medicapp"),
        "EXPECTED_ALEMBIC_REVISION": "4f2b9c1d7e3a",
        "ESSENTIAL_TABLES": "public.patients>=100,public.consultations>=1,public.documents>=1",
        "SIGNED_DOCUMENT_TABLE": "public.documents",
        "SIGNED_DOCUMENT_CHECKSUM_COLUMN": "sha256",
        "SIGNED_DOCUMENT_CONTAINER": "documents",
        "BLOB_CONNECTION_STRING": azurite.connection_string,
        "CHECK_TIMEOUT_SECONDS": "30",
    }


def upload_signed_documents(cluster: PostgresCluster, connection_string: str, container: str = "documents") -> None:
    """The demo's signed documents' files into Azurite (content as described in demo_db.sql)."""
    import psycopg
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    if not client.exists():
        client.create_container()
    with psycopg.connect(cluster.admin_url("medicapp")) as conn:
        for path, title in conn.execute("select blob_path, title from documents where signed"):
            client.upload_blob(path, f"MedicApp demo file for {title}".encode(), overwrite=True)


def main() -> int:
    print("Starting a throwaway PostgreSQL cluster and Azurite...", flush=True)
    cluster = PostgresCluster.start()
    azurite = None
    spool = tempfile.mkdtemp(prefix="medicapp-demo-spool-")
    try:
        cluster.create_database("medicapp", DEMO_SQL)
        azurite = Azurite.start()
        upload_signed_documents(cluster, azurite.connection_string)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | demo_env(cluster, azurite, spool)
        print(f"PostgreSQL on 127.0.0.1:{cluster.port}, Azurite tables on 127.0.0.1:{azurite.table_port}\n", flush=True)
        run = subprocess.run([sys.executable, "-m", "checks", "run"], cwd=ROOT, env=env)
        print(f"\n$ python -m checks journal --month {datetime.now(timezone.utc):%Y-%m}", flush=True)
        subprocess.run([sys.executable, "-m", "checks", "journal"], cwd=ROOT, env=env, check=True)
        print("\nThe run above is now in the Azurite table 'BackupJournal'.")
        # the monthly checklist from the journal: boxes without Azure evidence stay unticked here
        print("\n$ python -m checks report", flush=True)
        subprocess.run([sys.executable, "-m", "checks", "report"], cwd=ROOT, env=env)
        return run.returncode
    finally:
        if azurite:
            azurite.stop()
        cluster.stop()
        shutil.rmtree(spool, ignore_errors=True)
        print("Stopped PostgreSQL and Azurite.")


if __name__ == "__main__":
    sys.exit(main())
