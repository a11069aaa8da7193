"""Database checks against a real PostgreSQL (demo database) and Azurite (journal, blobs)."""
import hashlib
import json
import os
import uuid
from datetime import datetime, timezone

import psycopg
import pytest
from azure.storage.blob import BlobServiceClient

from azure_fakes import StaticCredential
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.journal.store import Journal
from checks.connect.database import ENTRA_SCOPE
from checks.engine.model import Status
from checks.engine.registry import select
from checks.engine.runner import run_checks
from devtools.localstack import DEMO_SQL

REVISION = "4f2b9c1d7e3a"
NEWEST_SIGNED = "patients/4/doc-3.pdf"  # 'Document 3' in demo_db.sql
NEWEST_CONTENT = b"MedicApp demo file for Document 3"


def run(env, checks=("database.*",), **ctx_kwargs):
    ctx = RunContext(settings=Settings.from_env(env), **ctx_kwargs)
    result = run_checks(select(list(checks)), ctx, "cli")
    return {r.check_id: r for r in result.results}, result


def one(env, check_id, **ctx_kwargs):
    return run(env, (check_id,), **ctx_kwargs)[0][check_id]


def admin_scalar(cluster, db, query):
    with psycopg.connect(cluster.admin_url(db), autocommit=True) as conn:
        return conn.execute(query).fetchone()[0]


@pytest.fixture
def scratch_db(pg_cluster):
    """A private copy of the demo database that a test may change (as superuser)."""
    name = "scratch_" + uuid.uuid4().hex[:10]
    pg_cluster.create_database(name, DEMO_SQL)
    yield name
    pg_cluster.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def journal(base_env):
    return Journal.from_settings(Settings.from_env(base_env), retry_total=0)


# --- all four together (the demo's configuration) -----------------------------------------------

def test_demo_configuration_all_four_pass(pg_cluster, demo_db_url, azurite):
    container = "docs" + uuid.uuid4().hex[:8]
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container).upload_blob(NEWEST_SIGNED, NEWEST_CONTENT)
    results, _ = run({"DATABASE_URL": demo_db_url, "EXPECTED_ALEMBIC_REVISION": REVISION,
                      "ESSENTIAL_TABLES": "public.patients>=100,public.consultations>=1,public.documents>=1",
                      "SIGNED_DOCUMENT_TABLE": "public.documents", "SIGNED_DOCUMENT_CHECKSUM_COLUMN": "sha256",
                      "SIGNED_DOCUMENT_CONTAINER": container, "BLOB_CONNECTION_STRING": azurite.connection_string})
    assert {cid: r.status for cid, r in results.items()} == {
        "database.connectivity": Status.PASS, "database.migration": Status.PASS,
        "database.essential_counts": Status.PASS, "database.signed_document": Status.PASS}, \
        {cid: r.summary for cid, r in results.items()}
    conn = results["database.connectivity"].details
    assert conn["read_only"] is True and conn["application_name"] == "medicapp-backup-verifier"
    assert conn["statement_timeout"] == "30s"
    assert results["database.essential_counts"].details["counts"] == {
        "public.patients": 120, "public.consultations": 300, "public.documents": 60}


def test_statement_timeout_follows_the_setting(demo_db_url):
    result = one({"DATABASE_URL": demo_db_url, "DB_STATEMENT_TIMEOUT_MS": "1500"}, "database.connectivity")
    assert result.status is Status.PASS and result.details["statement_timeout"] == "1500ms"


# --- migration ---------------------------------------------------------------------------------

def test_migration_reads_the_revision_and_fails_on_another(demo_db_url):
    ok = one({"DATABASE_URL": demo_db_url, "EXPECTED_ALEMBIC_REVISION": REVISION}, "database.migration")
    assert ok.status is Status.PASS and ok.details["revisions"] == [REVISION]
    bad = one({"DATABASE_URL": demo_db_url, "EXPECTED_ALEMBIC_REVISION": "ffff0000aaaa"}, "database.migration")
    assert bad.status is Status.FAIL and f"{REVISION} differs from the expected ffff0000aaaa" in bad.summary


def test_migration_missing_table_and_two_rows_warn(pg_cluster, demo_db_url, scratch_db):
    missing = one({"DATABASE_URL": demo_db_url, "ALEMBIC_SCHEMA": "audit"}, "database.migration")
    assert missing.status is Status.WARN and "audit.alembic_version not found" in missing.summary
    pg_cluster.execute("insert into alembic_version values ('0123abcd')", scratch_db)
    url = pg_cluster.url("verifier", "verifier-demo-pw", scratch_db)
    two = one({"DATABASE_URL": url, "EXPECTED_ALEMBIC_REVISION": REVISION}, "database.migration")
    assert two.status is Status.WARN and "has 2 rows" in two.summary and "0123abcd" in two.summary


# --- essential counts --------------------------------------------------------------------------

def test_counts_exact_below_threshold_estimate_above(demo_db_url):
    result = one({"DATABASE_URL": demo_db_url, "ESSENTIAL_TABLES": "patients>=1,public.documents,consultations",
                  "EXACT_COUNT_MAX_ROWS": "100"}, "database.essential_counts")
    assert result.status is Status.PASS, result.summary
    assert result.details["methods"] == {"public.patients": "estimate", "public.documents": "exact",
                                         "public.consultations": "estimate"}
    # the demo is ANALYZEd, so the planner's estimate is right
    assert result.details["counts"] == {"public.patients": 120, "public.documents": 60, "public.consultations": 300}
    assert set(result.details["estimated_as_of"]) == {"public.patients", "public.consultations"}
    assert "no journal available" in result.details["comparison"]


def test_counts_missing_table_and_minimum_fail(demo_db_url):
    result = one({"DATABASE_URL": demo_db_url, "ESSENTIAL_TABLES": "public.patients>=500,public.invoices"},
                 "database.essential_counts")
    assert result.status is Status.FAIL
    assert "public.patients has 120 rows, below the minimum of 500" in result.summary
    assert "table public.invoices not found" in result.summary


def test_real_data_loss_is_caught_against_the_journaled_previous_run(pg_cluster, scratch_db, journal):
    env = {"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
           "ESSENTIAL_TABLES": "public.patients>=1,public.documents"}
    results, first = run(env, ("database.essential_counts",), journal=journal)
    assert results["database.essential_counts"].status is Status.PASS
    assert "no accepted count of public.patients, public.documents for this target and database: not compared" \
        in results["database.essential_counts"].summary
    journal.write_run(first)

    # lose 30 of 120 patients (their consultations and documents first)
    pg_cluster.execute("delete from consultations where patient_id > 90; delete from documents where patient_id > 90; "
                       "delete from patients where id > 90", scratch_db)
    results, _ = run(env, ("database.essential_counts",), journal=journal)
    lost = results["database.essential_counts"]
    assert lost.status is Status.FAIL
    assert "possible data loss: public.patients dropped from 120 to 90 rows" in lost.summary
    assert lost.details["previous_run_id"] == first.run_id
    assert lost.details["drops"]["public.patients"] == {"previous": 120, "current": 90, "drop_percent": 25.0}


def test_growth_is_fine_and_the_previous_month_is_searched(pg_cluster, scratch_db, journal):
    env = {"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
           "ESSENTIAL_TABLES": "public.patients"}
    _, february = run(env, ("database.essential_counts",), journal=journal,
                      clock=lambda: datetime(2026, 2, 27, 6, tzinfo=timezone.utc))
    journal.write_run(february)
    pg_cluster.execute("insert into patients (full_name, birth_date) select 'New ' || g, date '2000-01-01' "
                       "from generate_series(1, 30) g", scratch_db)
    results, _ = run(env, ("database.essential_counts",), journal=journal,
                     clock=lambda: datetime(2026, 3, 1, 6, tzinfo=timezone.utc))
    grown = results["database.essential_counts"]
    assert grown.status is Status.PASS, grown.summary
    assert grown.details["previous_counts"] == {"public.patients": 120}
    assert grown.details["counts"] == {"public.patients": 150}
    assert grown.details["previous_run_id"] == february.run_id


def test_previous_result_of_another_server_is_not_compared(pg_cluster, scratch_db, journal):
    env = {"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
           "ESSENTIAL_TABLES": "public.patients"}
    _, first = run(env, ("database.essential_counts",), journal=journal)
    first.results[0].details["target"] = "restored-server:5432/medicapp"
    first.results[0].details["counts"] = {"public.patients": 100000}
    journal.write_run(first)
    result = one(env, "database.essential_counts", journal=journal)
    assert result.status is Status.PASS  # another server's counts are never this database's baseline
    assert "no accepted count of public.patients for this target and database: not compared" in result.summary


def test_db_host_points_every_check_at_another_server(pg_cluster, demo_db_url):
    """The restore drill's reuse: same credentials and names, another host."""
    unreachable = demo_db_url.replace("127.0.0.1", "10.255.255.1")
    env = {"DATABASE_URL": unreachable, "DB_CONNECT_TIMEOUT_SECONDS": "2", "EXPECTED_ALEMBIC_REVISION": REVISION,
           "ESSENTIAL_TABLES": "public.patients>=1", "SIGNED_DOCUMENT_TABLE": "public.documents"}
    results, _ = run(env, db_host="127.0.0.1")
    assert results["database.connectivity"].status is Status.PASS
    assert results["database.migration"].status is Status.PASS
    counts = results["database.essential_counts"]
    assert counts.status is Status.PASS and counts.details["counts"] == {"public.patients": 120}
    assert counts.details["target"] == f"127.0.0.1:{pg_cluster.port}/medicapp"
    # without db_host the configured (unreachable) server is used
    assert one(env, "database.migration").status is Status.ERROR


# --- Entra auth ----------------------------------------------------------------------------------

def test_entra_token_is_the_password_and_never_shows(pg_cluster):
    token = "eyJ0eXAiOiJKV1Qi.Entra-Token-Sentinel-" + uuid.uuid4().hex
    role = "entra_" + uuid.uuid4().hex[:8]
    pg_cluster.execute(f"create role {role} login password '{token}'")
    pg_cluster.execute(f"grant select on all tables in schema public to {role}", "medicapp")
    credential = StaticCredential(token)
    env = {"DATABASE_URL": f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/medicapp", "PG_AUTH": "entra",
           "ESSENTIAL_TABLES": "public.patients"}
    results, whole = run(env, ("database.connectivity", "database.essential_counts"), credential=credential)
    assert results["database.connectivity"].status is Status.PASS, results["database.connectivity"].summary
    assert results["database.connectivity"].details["user"] == role
    assert results["database.essential_counts"].details["counts"] == {"public.patients": 120}
    assert credential.scopes == [(ENTRA_SCOPE,), (ENTRA_SCOPE,)]  # one token per session, right scope
    assert token not in json.dumps(whole.to_dict(), default=str)
    # another token is refused: the token really is the password
    wrong = one(env, "database.connectivity", credential=StaticCredential("eyJ-other-token-" + uuid.uuid4().hex))
    assert wrong.status is Status.ERROR and "password authentication failed" in wrong.summary


def test_entra_without_credential_says_so(pg_cluster):
    from azure.identity import CredentialUnavailableError

    class Broken:  # what ManagedIdentityCredential raises without an endpoint (a RuntimeError would be a bug)
        def get_token(self, *scopes, **kw):
            raise CredentialUnavailableError("no managed identity endpoint")
    result = one({"DATABASE_URL": f"postgresql://x@127.0.0.1:{pg_cluster.port}/medicapp", "PG_AUTH": "entra"},
                 "database.connectivity", credential=Broken())
    assert result.status is Status.ERROR and "Microsoft Entra token" in result.summary
    assert "managed identity" in result.remediation


# --- signed document (Azurite) ------------------------------------------------------------------

@pytest.fixture
def doc_env(demo_db_url, azurite):
    container = "docs" + uuid.uuid4().hex[:8]
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container)
    env = {"DATABASE_URL": demo_db_url, "SIGNED_DOCUMENT_TABLE": "public.documents",
           "SIGNED_DOCUMENT_CHECKSUM_COLUMN": "sha256", "SIGNED_DOCUMENT_CONTAINER": container,
           "BLOB_CONNECTION_STRING": azurite.connection_string}
    return env, service.get_container_client(container)


def test_signed_document_matches(doc_env):
    env, container = doc_env
    container.upload_blob(NEWEST_SIGNED, NEWEST_CONTENT)
    result = one(env, "database.signed_document")
    assert result.status is Status.PASS and "sha256 matches" in result.summary
    assert result.details["blob_path"] == NEWEST_SIGNED
    assert result.details["actual_sha256"] == hashlib.sha256(NEWEST_CONTENT).hexdigest()
    assert result.details["size"] == len(NEWEST_CONTENT)


def test_signed_document_altered_file_fails(doc_env):
    env, container = doc_env
    container.upload_blob(NEWEST_SIGNED, b"MedicApp demo file for Document 3 (edited)")
    result = one(env, "database.signed_document")
    assert result.status is Status.FAIL and "does not match its stored sha256" in result.summary
    assert result.details["expected_sha256"] == hashlib.sha256(NEWEST_CONTENT).hexdigest()


def test_signed_document_missing_blob_and_container_fail(doc_env):
    env, container = doc_env
    container.upload_blob("patients/4/other.pdf", b"not the one")
    result = one(env, "database.signed_document")
    assert result.status is Status.FAIL and f"{NEWEST_SIGNED} is missing (no such blob)" in result.summary
    no_container = one(dict(env, SIGNED_DOCUMENT_CONTAINER="nosuchcontainer"), "database.signed_document")
    assert no_container.status is Status.FAIL and "container does not exist" in no_container.summary


def test_signed_document_is_hashed_in_chunks(pg_cluster, scratch_db, azurite):
    """A 40 KiB file with 4 KiB chunks: the hash is built from several ranged GETs, never one read."""
    content = os.urandom(40 * 1024)
    pg_cluster.execute("insert into documents (patient_id, title, signed, blob_path, sha256, created_at) values "
                       f"(1, 'Big', true, 'big/scan.pdf', '{hashlib.sha256(content).hexdigest()}', now() + interval '1 day')",
                       scratch_db)
    container = "docs" + uuid.uuid4().hex[:8]
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container) \
        .upload_blob("big/scan.pdf", content)
    ranges = []
    env = {"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
           "SIGNED_DOCUMENT_TABLE": "documents", "SIGNED_DOCUMENT_CHECKSUM_COLUMN": "sha256",
           "SIGNED_DOCUMENT_CONTAINER": container, "BLOB_CONNECTION_STRING": azurite.connection_string}
    result = one(env, "database.signed_document", azure_kwargs={
        "max_chunk_get_size": 4096, "max_single_get_size": 4096,
        "raw_response_hook": lambda r: ranges.append(r.http_request.headers.get("x-ms-range"))})
    assert result.status is Status.PASS, result.summary
    assert result.details["size"] == 40 * 1024
    assert len(ranges) == 10 and ranges[0] == "bytes=0-4095"


def test_signed_document_without_signed_rows_fails(pg_cluster, scratch_db):
    pg_cluster.execute("update documents set signed = false", scratch_db)
    result = one({"DATABASE_URL": pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
                  "SIGNED_DOCUMENT_TABLE": "public.documents"}, "database.signed_document")
    assert result.status is Status.FAIL and "no signed document in public.documents" in result.summary


def test_signed_document_blob_side_not_configured_warns(demo_db_url, azurite):
    env = {"DATABASE_URL": demo_db_url, "SIGNED_DOCUMENT_TABLE": "public.documents"}
    no_container = one(env, "database.signed_document")
    assert no_container.status is Status.WARN
    assert ("NOT verified: SIGNED_DOCUMENT_CONTAINER and BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) not set"
            in no_container.summary)  # both named at once
    no_account = one(dict(env, SIGNED_DOCUMENT_CONTAINER="documents"), "database.signed_document")
    assert no_account.status is Status.WARN and "BLOB_ACCOUNT_URL" in no_account.summary


def test_signed_document_without_checksum_column_checks_existence(doc_env):
    env, container = doc_env
    container.upload_blob(NEWEST_SIGNED, b"whatever")
    env = {k: v for k, v in env.items() if k != "SIGNED_DOCUMENT_CHECKSUM_COLUMN"}
    result = one(env, "database.signed_document")
    assert result.status is Status.PASS and "hash not compared" in result.summary and result.details["size"] == 8


def test_signed_document_not_configured_is_skipped(demo_db_url):
    result = one({"DATABASE_URL": demo_db_url}, "database.signed_document")
    assert result.status is Status.SKIPPED and result.summary == "SIGNED_DOCUMENT_TABLE not set"
    counts = one({"DATABASE_URL": demo_db_url}, "database.essential_counts")
    assert counts.status is Status.SKIPPED and counts.summary == "ESSENTIAL_TABLES not set"
    # nothing configured: the database and the check's own variable are named together
    assert one({}, "database.essential_counts").summary == \
        "DATABASE_URL (or PGHOST/PGDATABASE) and ESSENTIAL_TABLES not set"
    assert one({}, "database.signed_document").summary == \
        "DATABASE_URL (or PGHOST/PGDATABASE) and SIGNED_DOCUMENT_TABLE not set"
