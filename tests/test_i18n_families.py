"""French and English from the blob, blob activity, database and signed document families: every
branch of their pure rules, stored the journal's way (text + message facts through JSON) and
rendered again in each language; the separator of joined problems; the labels of detail keys."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from checks.engine.config import Settings
from checks.engine.i18n import join_messages, language, msg, translator
from checks.engine.model import CheckError, Outcome, Run, Status
from checks.engine.registry import all_checks
from checks.engine.runner import _to_result, message_facts
from checks.families import blob, blob_activity, database, signed_document
from checks.families.blob_activity import (DeletedProof, FeedDeletedFacts, FeedNewest, FeedRecentFacts, Strategy,
                                           _labelled)
from checks.journal.store import Journal

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 6, tzinfo=UTC)
ACCOUNT = "stmedicapp"
# English words that must not survive in a French rendering (values in the scenarios avoid them)
ENGLISH = re.compile(r"\b(the|is|are|not|no|of|and|or|with|but|days|rows|file|found|listed|deleted|newest|"
                     r"recent|within|below|above|cannot|older|bytes|connected|schema|table has)\b|e\.g\.")


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


def _blob_scenarios():
    soft = blob.SoftDeleteFacts
    yield blob.evaluate_soft_delete(soft(ACCOUNT, False, None, True, 30), settings())
    yield blob.evaluate_soft_delete(soft(ACCOUNT, True, 7, True, 30), settings())
    yield blob.evaluate_soft_delete(soft(ACCOUNT, True, 120, False, None), settings())
    yield blob.evaluate_soft_delete(soft(ACCOUNT, True, 30, False, None), settings())
    yield blob.evaluate_soft_delete(soft(ACCOUNT, True, 30, True, 14), settings())
    yield blob.evaluate_soft_delete(soft(ACCOUNT, True, 30, True, None), settings())
    yield blob.evaluate_versioning(blob.VersioningFacts(ACCOUNT, False, True, 7, True, 6), settings())
    yield blob.evaluate_versioning(blob.VersioningFacts(ACCOUNT, True, False, None, False, None), settings())
    yield blob.evaluate_account_security(blob.AccountSecurityFacts(ACCOUNT, True, "TLS1_0", False), settings())
    yield blob.evaluate_account_security(blob.AccountSecurityFacts(ACCOUNT, None, None, None), settings())
    yield blob.evaluate_account_security(blob.AccountSecurityFacts(ACCOUNT, False, "TLS1_2", True), settings())
    newest = blob.NewestBlob
    yield blob.evaluate_recent_file(blob.RecentFileFacts(ACCOUNT, "2026/", NOW, (
        newest("ordonnances", "2026/11/cr-42.pdf", NOW - timedelta(days=1.5), 3, False),)), settings())
    yield blob.evaluate_recent_file(blob.RecentFileFacts(ACCOUNT, None, NOW, (
        newest("ordonnances", "2026/11/cr-42.pdf", NOW - timedelta(days=1), 3, False),
        newest("scans", "2026/01/a.pdf", NOW - timedelta(days=40), 5000, True))), settings())
    yield blob.evaluate_recent_file(blob.RecentFileFacts(ACCOUNT, "2026/", NOW, (
        newest("ordonnances", None, None, 0, False),
        newest("scans", "2026/01/a.pdf", NOW - timedelta(days=40), 12, False))), settings())
    seen = blob.DeletedSeen
    yield blob.evaluate_deleted_visible(blob.DeletedVisibleFacts(ACCOUNT, (
        seen("ordonnances", 10, False, 2, "x.pdf", NOW, 12),)), settings())
    yield blob.evaluate_deleted_visible(blob.DeletedVisibleFacts(ACCOUNT, (
        seen("ordonnances", 10, False, 2, "x.pdf"),)), settings())
    yield blob.evaluate_deleted_visible(blob.DeletedVisibleFacts(ACCOUNT, (
        seen("ordonnances", 5000, True, 0), seen("scans", 3, False, 0))), settings())
    yield blob.evaluate_deleted_visible(blob.DeletedVisibleFacts(ACCOUNT, (seen("scans", 3, False, 0),)), settings())


def _activity_scenarios():
    feed = FeedNewest
    yield blob_activity.evaluate_recent_from_feed(FeedRecentFacts(ACCOUNT, NOW, 7, 168, (
        feed("ordonnances", "2026/11/cr-42.pdf", NOW - timedelta(days=2), NOW, gone=("2026/11/cr-43.pdf",)),)),
        settings())
    yield blob_activity.evaluate_recent_from_feed(FeedRecentFacts(ACCOUNT, NOW, 2.5, 60, (
        feed("ordonnances", None, None, None),)), settings())
    yield blob_activity.evaluate_recent_from_feed(FeedRecentFacts(ACCOUNT, NOW, 7, 168, (
        feed("ordonnances", None, None, None, gone=("2026/11/a.pdf", "2026/11/b.pdf")),)), settings())
    proof = DeletedProof
    deleted = FeedDeletedFacts
    yield blob_activity.evaluate_deleted_from_feed(deleted(ACCOUNT, NOW, 29, 696, ("ordonnances",), (
        proof("ordonnances", "a.pdf", NOW - timedelta(days=3), False), proof("ordonnances", "b.pdf", NOW, True, 27)),
        0), settings())
    yield blob_activity.evaluate_deleted_from_feed(deleted(ACCOUNT, NOW, 29, 696, ("ordonnances", "scans"), (), 1),
                                                   settings())
    yield blob_activity.evaluate_deleted_from_feed(deleted(ACCOUNT, NOW, 29.5, 696, ("ordonnances",), (
        proof("ordonnances", "b.pdf", NOW, True, 27),), 0), settings())
    yield blob_activity.evaluate_deleted_from_feed(deleted(ACCOUNT, NOW, 29, 696, ("ordonnances",), (
        proof("ordonnances", "b.pdf", NOW, True),), 0), settings())
    passed = Outcome.passed(msg("recent file within {days} days: {containers}", days=7, containers="x"))
    yield _labelled(passed, Strategy("change_feed", "change feed on"))
    yield _labelled(passed, Strategy("listing", "change feed off"))


def _database_scenarios():
    conn = database.ConnectivityFacts
    yield database.evaluate_connectivity(conn("16.4", 12.5, False, "medicapp", "verifier", "30000"), settings())
    yield database.evaluate_connectivity(conn("16.4", 12.5, True, "medicapp", "verifier", "0"), settings())
    yield database.evaluate_connectivity(conn("16.4", 1234.5, True, "medicapp", "verifier", "30s"), settings())
    mig = database.MigrationFacts
    expected = settings(EXPECTED_ALEMBIC_REVISION="ab12")
    yield database.evaluate_migration(mig("public.alembic_version", False), expected)
    yield database.evaluate_migration(mig("public.alembic_version", True), expected)
    yield database.evaluate_migration(mig("public.alembic_version", True, ("cd34",)), expected)
    yield database.evaluate_migration(mig("public.alembic_version", True, ("ab12", "cd34")), expected)
    yield database.evaluate_migration(mig("public.alembic_version", True, ("ab12",)), expected)
    yield database.evaluate_migration(mig("public.alembic_version", True, ("ab12",)), settings())
    count, facts = database.TableCount, database.CountFacts
    yield database.evaluate_essential_counts(facts((
        count("public.patients", missing=True), count("public.ordonnances", 3, "exact", 10),
        count("public.actes", error=msg("permission denied reading {what}: {message}", what="public.actes",
                                        message="42501")))), settings())
    yield database.evaluate_essential_counts(facts(
        (count("public.patients", 1200, "exact"), count("public.ordonnances", 50, "exact", 10)),
        "db:5432/medicapp", {"public.patients": 2400, "public.ordonnances": 50}, "r1", msg("compared with the last "
                                                                                         "accepted run of {when}",
                                                                                         when="2026-11-25T06:00:00"),
        previous_target="db:5432/medicapp"), settings())
    yield database.evaluate_essential_counts(facts((count("public.patients", 1200, "exact"),), "db:5432/medicapp",
                                                   comparison=msg("journal read failed ({reason})", reason="timeout"),
                                                   comparison_failed=True), settings())
    yield database.evaluate_essential_counts(facts(
        (count("public.patients", 1234567, "estimate", analyzed_at="2026-11-25"), count("public.actes", 12, "exact")),
        "db:5432/medicapp", {"public.patients": 1234000}, "r1", "", previous_target="other:5432/medicapp"),
        settings())
    yield database.evaluate_essential_counts(facts((count("public.patients", 12, "exact"),), comparison=msg(
        "no previous run with accepted (passed) counts this month or last month: not compared")), settings())


def _signed_scenarios():
    base = dict(table="public.documents", found=True, blob_path="2026/11/cr-42.pdf", container="signes")
    sd = signed_document.SignedDocumentFacts
    s = settings(SIGNED_DOCUMENT_CHECKSUM_COLUMN="sha256")
    digest = "a" * 64
    yield signed_document.evaluate_signed_document(sd(**{**base, "found": False}), s)
    yield signed_document.evaluate_signed_document(sd(**{**base, "blob_path": None}), s)
    yield signed_document.evaluate_signed_document(sd(**{**base, "blob_path": "../x.pdf",
                                                         "path_problem": signed_document.blob_path_problem("../x.pdf")}), s)
    yield signed_document.evaluate_signed_document(sd(**base, not_checked_reason="SIGNED_DOCUMENT_CONTAINER"), s)
    for code in ("ContainerNotFound", "BlobNotFound"):
        yield signed_document.evaluate_signed_document(sd(**base, blob_checked=True, blob_exists=False,
                                                          blob_missing_code=code), s)
    present = dict(blob_checked=True, blob_exists=True, blob_size=2048)
    yield signed_document.evaluate_signed_document(sd(**base, **present), s)
    yield signed_document.evaluate_signed_document(sd(**base, **present, checksum_column="sha256"), s)
    yield signed_document.evaluate_signed_document(sd(**base, **present, checksum_column="sha256",
                                                      stored_checksum="zz"), s)
    yield signed_document.evaluate_signed_document(sd(**base, **present, checksum_column="sha256",
                                                      stored_checksum=digest, actual_sha256="b" * 64), s)
    yield signed_document.evaluate_signed_document(sd(**base, **present, checksum_column="sha256",
                                                      stored_checksum=digest, actual_sha256=digest), s)


SCENARIOS = {"blob": _blob_scenarios, "blob_activity": _activity_scenarios, "database": _database_scenarios,
             "signed_document": _signed_scenarios}
ALL = [pytest.param(outcome, id=f"{family}-{index}") for family, make in SCENARIOS.items()
       for index, outcome in enumerate(make())]


def journaled(outcome: Outcome) -> dict:
    """The message facts as the journal keeps them (JSON, redacted)."""
    return json.loads(json.dumps(message_facts(summary=outcome.summary, remediation=outcome.remediation)))


def rendered(outcome: Outcome, lang: str) -> tuple[str, str]:
    facts, t = journaled(outcome), translator(lang)
    return (t.message(outcome.summary, facts.get("summary")),
            t.message(outcome.remediation or "", facts.get("remediation")) if outcome.remediation else "")


def test_every_branch_is_covered():
    statuses = {family: {o.status for o in make()} for family, make in SCENARIOS.items()}
    assert statuses["blob"] == statuses["blob_activity"] == {Status.PASS, Status.WARN, Status.FAIL}
    assert statuses["database"] == statuses["signed_document"] | {Status.ERROR} == \
        {Status.PASS, Status.WARN, Status.FAIL, Status.ERROR}


@pytest.mark.parametrize("outcome", ALL)
def test_stored_facts_render_the_same_english_and_a_french_text(outcome):
    facts = journaled(outcome)
    assert "summary" in facts and ("remediation" in facts) == bool(outcome.remediation)  # every text a message
    assert rendered(outcome, "en") == (outcome.summary, outcome.remediation or "")
    summary, remediation = rendered(outcome, "fr")
    for english, french in ((outcome.summary, summary), (outcome.remediation or "", remediation)):
        assert french != english or not english
        assert not ENGLISH.search(french), french
        assert "{" not in french and "}" not in french  # every placeholder filled


def test_french_sentences_of_each_family():
    soft = blob.evaluate_soft_delete(blob.SoftDeleteFacts(ACCOUNT, True, 30, True, 14), settings())
    assert rendered(soft, "fr")[0] == ("soft delete des blobs actif, 30 jours (dans la plage 30 à 90) ; soft delete "
                                       "des conteneurs actif (14 jours)")
    security = blob.evaluate_account_security(blob.AccountSecurityFacts(ACCOUNT, True, None, False), settings())
    assert rendered(security, "fr") == (
        "compte de stockage stmedicapp : accès public aux blobs autorisé ; version TLS minimale non indiquée ; "
        "HTTP autorisé (transfert sécurisé non obligatoire)",
        "Sur le compte de stockage stmedicapp : passer « Autoriser l'accès anonyme aux objets blob » à Désactivé, "
        "régler la version TLS minimale sur 1.2, activer « Transfert sécurisé obligatoire ».")
    feed = blob_activity.evaluate_recent_from_feed(FeedRecentFacts(ACCOUNT, NOW, 2.5, 60, (
        FeedNewest("ordonnances", None, None, None),)), settings())
    assert rendered(_labelled(feed, Strategy("change_feed", "")), "fr")[0] == (
        "fichier récent non prouvé : ordonnances : aucun blob présent trouvé dans les 2,5 jours lus [change feed]")
    drop = database.evaluate_essential_counts(database.CountFacts(
        (database.TableCount("public.patients", 1200, "exact"),), previous={"public.patients": 2400}), settings())
    assert rendered(drop, "fr")[0] == ("perte de données possible : le nombre de lignes de public.patients est tombé "
                                       "de 2\u202f400 à 1\u202f200 (-50 %, seuil 5 %)")
    assert rendered(drop, "en")[0] == "possible data loss: public.patients dropped from 2400 to 1200 rows (-50.0 %, threshold 5 %)"
    migration = database.evaluate_migration(database.MigrationFacts("public.alembic_version", True, ("cd34",)),
                                            settings(EXPECTED_ALEMBIC_REVISION="ab12"))
    assert rendered(migration, "fr")[0] == "la révision Alembic du schéma cd34 diffère de celle attendue, ab12"
    missing = signed_document.evaluate_signed_document(signed_document.SignedDocumentFacts(
        "public.documents", True, "2026/11/cr-42.pdf", container="signes", blob_checked=True, blob_exists=False,
        blob_missing_code="BlobNotFound"), settings())
    assert rendered(missing, "fr")[0] == ("le fichier du document signé le plus récent, signes/2026/11/cr-42.pdf, "
                                          "est absent (blob inexistant)")


def test_a_check_error_of_these_families_is_a_french_result():
    from checks.connect.database import query_error
    import psycopg.errors

    error = query_error(psycopg.errors.InsufficientPrivilege("permission denied for table documents"),
                        msg("signed documents in {table}", table="public.documents"))
    assert isinstance(error, CheckError)
    result = _to_result(all_checks()["database.signed_document"], Outcome(Status.ERROR, error.reason, {},
                                                                          error.remediation), NOW, 5)
    fr = translator("fr")
    assert fr.message(result.summary, result.messages["summary"]) == (
        "permission refusée en lecture (documents signés de public.documents) : permission denied for table documents")
    assert fr.message(result.remediation, result.messages["remediation"]).startswith("Accorder SELECT")


# --- joined problems: each language's separator ------------------------------------------------

def test_joined_problems_use_the_languages_separator():
    problems = join_messages([msg("blob versioning is off"), msg("change feed is off"), msg("blob soft delete is off")])
    assert problems == "blob versioning is off; change feed is off; blob soft delete is off"
    assert translator("fr").message(problems) == ("le versioning des blobs est désactivé ; le change feed est "
                                                  "désactivé ; le soft delete des blobs est désactivé")
    assert translator("en").message(problems) == problems
    names = join_messages(["a.pdf", "b.pdf", "c.pdf"], ", ")
    assert translator("fr").message(names) == "a.pdf, b.pdf, c.pdf"
    assert translator("fr").message(join_messages(["a", "b"], " | ")) == "a | b"  # no catalog entry: as written


def test_each_language_has_its_separators():
    fr, en = translator("fr"), translator("en")
    assert [fr.separator(s) for s in ("; ", ": ", ", ", " | ")] == [" ; ", " : ", ", ", " | "]
    assert [en.separator(s) for s in ("; ", ": ")] == ["; ", ": "]


def test_a_join_journaled_before_the_catalog_had_it_renders_with_the_french_separator():
    stored = {"id": "{p0}; {p1}; {p2}", "params": {"p0": {"$msg": {"id": "change feed is off", "params": {}}},
                                                   "p1": "x", "p2": "y"}}
    assert translator("fr").message("change feed is off; x; y", stored) == "le change feed est désactivé ; x ; y"


# --- detail keys: labels in the report and on the run page -------------------------------------

def _soft_delete_run(started: datetime) -> Run:
    run = Run(run_id=started.strftime("%Y%m%dT%H%M%SZ") + "-abc123", trigger="timer", started_at=started,
              finished_at=started + timedelta(seconds=5))
    outcome = blob.evaluate_soft_delete(blob.SoftDeleteFacts(ACCOUNT, True, 30, True, 14), settings())
    run.results.append(_to_result(all_checks()["blob.soft_delete"], outcome, started, 10))
    return run


def test_report_and_run_page_show_french_labels_for_detail_keys(azurite, journal_table_name, tmp_path):
    from checks.cli import main
    env = {"AzureWebJobsStorage": azurite.connection_string, "JOURNAL_TABLE": journal_table_name}
    run = _soft_delete_run(datetime(2026, 9, 3, 6, tzinfo=UTC))
    Journal.from_settings(Settings.from_env(env)).write_run(run)
    french, english = io.StringIO(), io.StringIO()
    main(["report", "--month", "2026-09", "--lang", "fr"], out=french, env=env)
    main(["report", "--month", "2026-09", "--lang", "en"], out=english, env=env)
    # the soft delete box's evidence: labels and the punctuation of each language
    assert "06:00 UTC ; blob.soft\\_delete réussi : activé : oui, jours de rétention : 30 |" in french.getvalue()
    assert "06:00 UTC; blob.soft\\_delete pass: enabled: yes, retention days: 30 |" in english.getvalue()
    main(["report", "--month", "2026-09", "--lang", "fr", "--site", str(tmp_path)], out=io.StringIO(), env=env)
    month_page = (tmp_path / "month-2026-09.html").read_text()
    assert "RÉUSSI</span> : activé : oui, jours de rétention : 30</div>" in month_page
    page = (tmp_path / f"run-{run.run_id}.html").read_text()
    assert '<td title="container_retention_days">jours de rétention des conteneurs</td><td>14</td>' in page
    assert '<td title="account">compte de stockage</td><td>stmedicapp</td>' in page
    assert "soft delete des blobs actif, 30 jours" in page and "container_retention_days</td>" not in page
    stored = Journal.from_settings(Settings.from_env(env)).get_run(run.run_id)
    assert stored.results[0].details["container_retention_days"] == 14  # the journal keeps the raw keys


def test_unknown_detail_keys_show_as_words_and_known_ones_follow_the_language():
    from checks.report.labels import DETAIL_LABELS, detail_label
    with language("fr"):
        assert detail_label("retention_days") == "jours de rétention" and detail_label("some_new_key") == "some new key"
    with language("en"):
        assert detail_label("retention_days") == "retention days" and detail_label("latency_ms") == "latency (ms)"
    fr = translator("fr")
    assert all(fr.gettext(label) != label or label in ("versioning", "change feed", "table")
               for label in DETAIL_LABELS.values())
