"""Pure rules of the database checks: no server needed."""
import hashlib
import base64
from dataclasses import replace

from checks.engine.config import Settings
from checks.families.database import (CountFacts, MigrationFacts, TableCount, TableSpec,
                             evaluate_essential_counts, evaluate_migration)
from checks.engine.timeutil import month_and_previous
from checks.families.signed_document import SignedDocumentFacts, evaluate_signed_document, normalize_sha256
from checks.engine.model import Status
from datetime import datetime, timezone


def settings(**env):
    return Settings.from_env(env)


# --- migration ---------------------------------------------------------------------------------

def test_migration_expected_revision_passes_and_other_fails():
    s = settings(EXPECTED_ALEMBIC_REVISION="abc123")
    ok = evaluate_migration(MigrationFacts("public.alembic_version", True, ("abc123",)), s)
    assert ok.status is Status.PASS and "expected revision abc123" in ok.summary
    bad = evaluate_migration(MigrationFacts("public.alembic_version", True, ("def456",)), s)
    assert bad.status is Status.FAIL
    assert "def456" in bad.summary and "abc123" in bad.summary
    assert bad.details["revisions"] == ["def456"] and bad.details["expected"] == "abc123"


def test_migration_missing_table_and_empty_warn_naming_the_table():
    s = settings(EXPECTED_ALEMBIC_REVISION="abc123")
    missing = evaluate_migration(MigrationFacts("app.versions", False), s)
    assert missing.status is Status.WARN and "app.versions not found" in missing.summary
    empty = evaluate_migration(MigrationFacts("app.versions", True, ()), s)
    assert empty.status is Status.WARN and "app.versions is empty" in empty.summary


def test_migration_several_rows_warn_naming_them_or_fail_when_expected_absent():
    two = MigrationFacts("public.alembic_version", True, ("aaa", "bbb"))
    warned = evaluate_migration(two, settings(EXPECTED_ALEMBIC_REVISION="aaa"))
    assert warned.status is Status.WARN and "2 rows (aaa, bbb)" in warned.summary
    failed = evaluate_migration(two, settings(EXPECTED_ALEMBIC_REVISION="ccc"))
    assert failed.status is Status.FAIL and "aaa, bbb" in failed.summary


def test_migration_without_expected_revision_passes_and_says_so():
    out = evaluate_migration(MigrationFacts("public.alembic_version", True, ("abc123",)), settings())
    assert out.status is Status.PASS and "EXPECTED_ALEMBIC_REVISION not set" in out.summary


# --- essential counts --------------------------------------------------------------------------

def test_table_spec_parsing():
    assert TableSpec.parse("public.patients>=1") == TableSpec("public", "patients", 1)
    assert TableSpec.parse("documents") == TableSpec(None, "documents", None)
    assert TableSpec.parse(" app.t >= 30 ").minimum == 30
    evil = TableSpec.parse("patients; DROP TABLE patients")
    assert evil == TableSpec(None, "patients; DROP TABLE patients", None)  # a (strange) name, not SQL


def counts(*tables, previous=None, **kw):
    return CountFacts(tuple(tables), "db:5432/app", previous, "r1" if previous else None,
                      kw.pop("comparison", "compared with the previous run of X"), **kw)


def test_counts_pass_with_methods_and_stable_shape():
    facts = counts(TableCount("public.patients", 120, "exact", 1),
                   TableCount("public.events", 5_000_000, "estimate", None, analyzed_at="2026-11-01T00:00:00+00:00"),
                   previous={"public.patients": 118, "public.events": 4_900_000})
    out = evaluate_essential_counts(facts, settings())
    assert out.status is Status.PASS
    assert out.details["counts"] == {"public.patients": 120, "public.events": 5_000_000}
    assert out.details["methods"] == {"public.patients": "exact", "public.events": "estimate"}
    assert out.details["estimated_as_of"] == {"public.events": "2026-11-01T00:00:00+00:00"}
    assert "public.events 5000000 (estimate)" in out.summary


def test_counts_missing_table_and_below_minimum_fail_naming_them():
    out = evaluate_essential_counts(counts(TableCount("public.gone", minimum=1, missing=True),
                                           TableCount("public.patients", 0, "exact", 1)), settings())
    assert out.status is Status.FAIL
    assert "table public.gone not found" in out.summary
    assert "public.patients has 0 rows, below the minimum of 1" in out.summary
    assert out.details["missing"] == ["public.gone"]


def test_drop_above_threshold_fails_as_possible_data_loss_with_both_figures():
    facts = counts(TableCount("public.patients", 90, "exact"), TableCount("public.documents", 96, "exact"),
                   previous={"public.patients": 100, "public.documents": 100})
    out = evaluate_essential_counts(facts, settings(COUNT_DROP_THRESHOLD_PERCENT="5"))
    assert out.status is Status.FAIL
    assert "possible data loss: public.patients dropped from 100 to 90 rows" in out.summary
    assert "public.documents" not in out.summary  # 4 % is within the threshold
    assert out.details["drops"] == {"public.patients": {"previous": 100, "current": 90, "drop_percent": 10.0}}


def test_threshold_is_configurable_and_growth_is_fine():
    facts = counts(TableCount("public.patients", 90, "exact"), TableCount("public.documents", 500, "exact"),
                   previous={"public.patients": 100, "public.documents": 100})
    assert evaluate_essential_counts(facts, settings(COUNT_DROP_THRESHOLD_PERCENT="10")).status is Status.PASS
    assert evaluate_essential_counts(facts, settings(COUNT_DROP_THRESHOLD_PERCENT="9.5")).status is Status.FAIL


def test_unreadable_table_is_an_error_and_journal_failure_warns():
    err = evaluate_essential_counts(counts(TableCount("public.secret", error="permission denied reading x")),
                                    settings())
    assert err.status is Status.ERROR and "public.secret: permission denied" in err.summary
    warn = evaluate_essential_counts(counts(TableCount("public.patients", 5, "exact"),
                                            comparison="journal read failed (boom)", comparison_failed=True),
                                     settings())
    assert warn.status is Status.WARN and "journal read failed" in warn.summary


def test_months_for_the_previous_run_lookup():
    assert month_and_previous(datetime(2026, 1, 1, 6, tzinfo=timezone.utc)) == ["2026-01", "2025-12"]
    assert month_and_previous(datetime(2026, 3, 31, tzinfo=timezone.utc)) == ["2026-03", "2026-02"]


# --- signed document ---------------------------------------------------------------------------

DOC = dict(table="public.documents", found=True, blob_path="p/doc.pdf", container="documents",
           checksum_column="sha256")


def test_signed_document_rules():
    s = settings()
    digest = hashlib.sha256(b"x").hexdigest()
    assert evaluate_signed_document(SignedDocumentFacts("public.documents", False), s).status is Status.FAIL
    ok = evaluate_signed_document(SignedDocumentFacts(**DOC, stored_checksum=digest.upper(), blob_checked=True,
                                                      blob_exists=True, blob_size=1, actual_sha256=digest), s)
    assert ok.status is Status.PASS and "sha256 matches" in ok.summary
    bad = evaluate_signed_document(SignedDocumentFacts(**DOC, stored_checksum="0" * 64, blob_checked=True,
                                                       blob_exists=True, blob_size=1, actual_sha256=digest), s)
    assert bad.status is Status.FAIL and "does not match" in bad.summary
    gone = evaluate_signed_document(SignedDocumentFacts(**DOC, blob_checked=True, blob_exists=False,
                                                        blob_missing_code="ContainerNotFound"), s)
    assert gone.status is Status.FAIL and "container does not exist" in gone.summary
    unverified = evaluate_signed_document(SignedDocumentFacts(**DOC, not_checked_reason="SIGNED_DOCUMENT_CONTAINER not set"), s)
    assert unverified.status is Status.WARN and "NOT verified: SIGNED_DOCUMENT_CONTAINER not set" in unverified.summary
    no_path = evaluate_signed_document(SignedDocumentFacts("public.documents", True, blob_path=""), s)
    assert no_path.status is Status.FAIL and "no file path" in no_path.summary
    odd = evaluate_signed_document(SignedDocumentFacts(**DOC, stored_checksum="not-a-hash", blob_checked=True,
                                                       blob_exists=True, blob_size=1, actual_sha256=digest), s)
    assert odd.status is Status.WARN and "not a sha256" in odd.summary


def test_normalize_sha256_accepts_hex_and_base64_only():
    raw = hashlib.sha256(b"doc").digest()
    assert normalize_sha256(raw.hex().upper()) == raw.hex()
    assert normalize_sha256(base64.b64encode(raw).decode()) == raw.hex()
    assert normalize_sha256("abc") is None and normalize_sha256(None) is None


def test_counts_from_another_server_are_not_compared_by_the_rule():
    """The rule (not the journal read) decides: a previous result taken on another server (the drill's
    restored one) is not a baseline, so even a big 'drop' is no failure."""
    facts = counts(TableCount("public.patients", 10, "exact", 1), previous={"public.patients": 100},
                   previous_target="restored:5432/app")
    out = evaluate_essential_counts(facts, settings())
    assert out.status is Status.PASS
    assert out.details["comparison"] == "the previous result was for another server (restored:5432/app): not compared"
    assert out.details["previous_counts"] is None
    same = evaluate_essential_counts(replace(facts, previous_target="db:5432/app"), settings())
    assert same.status is Status.FAIL and "possible data loss" in same.summary
