"""French times and status words in what people read; the journal and JSON keep ISO times and raw tokens."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

from checks.engine.config import Settings
from checks.engine.i18n import language, msg, translator
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.engine.runner import message_facts

UTC = timezone.utc
S = Settings.from_env({})


# --- times inside texts -----------------------------------------------------------------------------

def test_an_iso_time_inside_a_message_reads_the_french_way_and_stays_iso_in_the_journal():
    m = msg("{count} blob deleted, e.g. {blob} (deleted {at})", count=1, blob="docs/a.pdf", at="2026-11-26T07:34:00Z")
    fact = json.loads(json.dumps(message_facts(summary=m)))["summary"]
    assert fact["params"]["at"] == "2026-11-26T07:34:00Z"  # the raw ISO time is what the journal keeps
    assert translator("en").message(m, fact) == str(m) == "1 blob deleted, e.g. docs/a.pdf (deleted 2026-11-26T07:34:00Z)"
    fr = translator("fr")
    assert fr.value("2026-11-26T07:34:00Z") == "26 nov. 2026 07:34 UTC"  # as the report writes its times
    assert fr.value("2026-11-26T08:34:12.5+01:00") == "26 nov. 2026 07:34:12 UTC"  # seconds kept when there are some
    assert fr.value(datetime(2026, 11, 1, 5, 50, tzinfo=UTC)) == "1 nov. 2026 05:50 UTC"
    assert fr.value("2026-11-26") == "2026-11-26" and fr.value("run 2026-11-26T07:34:00Z") == "run 2026-11-26T07:34:00Z"
    assert fr.value("2026-02-30T06:00:00Z") == "2026-02-30T06:00:00Z"  # not a real moment: shown as stored


def test_the_report_times_and_the_message_times_agree():
    from checks.report.pages import utc_time
    with language("fr"):
        assert utc_time("2026-11-01T06:00:00.123Z") == "1 nov. 2026 06:00 UTC"
    with language("en"):
        assert utc_time("2026-11-01T06:00:00.123Z") == "2026-11-01 06:00 UTC"


def test_a_drill_in_french_shows_its_times_and_state_in_french():
    from checks.drill.state import PROVISIONING, Drill
    from checks.drill_face import describe
    drill = Drill(drill_id="20261126T060000Z-abc123", state=PROVISIONING, trigger="cli", source_server="prod",
                  resource_group="rg", target_server="t", requested_at="2026-11-26T06:00:00Z",
                  restore_point="2026-11-26T05:50:00Z", restore_point_mode="latest", expires_at="2026-11-26T12:00:00Z")
    english = describe(drill)
    with language("fr"):
        french = describe(drill)
    assert "Drill 20261126T060000Z-abc123: PROVISIONING" in english and "requested 2026-11-26T06:00:00Z" in english
    assert "Exercice 20261126T060000Z-abc123 : CRÉATION EN COURS" in french
    assert "26 nov. 2026 05:50 UTC" in french and "2026-11-26T" not in french


# --- status words -----------------------------------------------------------------------------------

def _run() -> Run:
    at = datetime(2026, 11, 26, 6, tzinfo=UTC)
    run = Run(run_id="20261126T060000Z-abc123", trigger="cli", started_at=at, finished_at=at)
    run.results += [CheckResult("blob.soft_delete", "t", Status.FAIL, Severity.HIGH, msg("soft delete is OFF"), {},
                                "fix", at, 5),
                    CheckResult("postgres.retention", "t", Status.SKIPPED, Severity.HIGH, "n/a", {}, "", at, 1)]
    run.journal_status = "written"
    return run


def test_cli_run_table_shows_status_words_in_french_and_raw_tokens_in_json():
    from checks.cli_text import print_run
    english, french = io.StringIO(), io.StringIO()
    print_run(_run(), english)
    with language("fr"):
        print_run(_run(), french)
    assert "FAIL   blob.soft_delete" in english.getvalue() and "Overall: FAIL — 1 fail, 1 skipped; journal: written" \
        in english.getvalue()
    text = french.getvalue()
    assert "ÉCHEC  blob.soft_delete" in text and "IGNORÉ postgres.retention" in text
    assert "Bilan : ÉCHEC — 1 échec, 1 ignoré ; journal : écrit" in text
    assert "FAIL" not in text and "written" not in text
    assert json.loads(json.dumps(_run().to_dict(), default=str))["results"][0]["status"] == "fail"


def test_a_status_parameter_renders_as_the_word_even_from_an_old_fact():
    old = {"id": "verification {status}", "params": {"status": "pass"}}  # as journaled before this change
    assert translator("fr").message("verification pass", old) == "vérification : réussi"
    assert translator("en").message("verification pass", old) == "verification pass"
    other = {"id": "server state is {state} (not Ready)", "params": {"state": "Stopped"}}  # Azure's word: as is
    assert translator("fr").message("", other) == "l'état du serveur est Stopped (pas Ready)"


def test_the_drill_page_shows_the_state_word(tmp_path):
    from checks.drill.state import PROVISIONING, Drill
    from checks.report.pages import drill_page
    drill = Drill(drill_id="20261126T060000Z-abc123", state=PROVISIONING, trigger="cli", source_server="prod",
                  resource_group="rg", target_server="t", requested_at="2026-11-26T06:00:00Z",
                  restore_point="", restore_point_mode="", expires_at="")
    with language("fr"):
        page = drill_page(drill)
    assert "<dd>création en cours</dd>" in page
    with language("en"):
        assert "<dd>provisioning</dd>" in drill_page(drill)


# --- argparse's own words -----------------------------------------------------------------------------

def _main(args, env, capsys):
    from checks.cli import main
    code = main(args, out=io.StringIO(), env=env)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_argparse_usage_help_and_errors_follow_the_language(capsys):
    code, text = _main(["--lang", "fr", "report", "--help"], {}, capsys)
    assert code == 0 and text.startswith("usage : python -m checks report")
    assert "afficher ce message d'aide et quitter" in text and "show this help message" not in text
    code, text = _main(["report", "--format", "xx"], {"LANGUAGE": "fr"}, capsys)
    assert code == 2 and "python -m checks report : erreur : argument --format : choix invalide : 'xx' " \
        "(choisir parmi 'md', 'html', 'json')" in text
    code, text = _main(["--lang", "fr", "run", "--bogus"], {}, capsys)
    assert code == 2 and "erreur : arguments non reconnus : --bogus" in text
    code, text = _main(["report", "--format", "xx"], {}, capsys)  # English: argparse's own text, unchanged
    assert code == 2 and "python -m checks report: error: argument --format: invalid choice: 'xx'" in text
    code, text = _main(["report", "--help"], {}, capsys)
    assert text.startswith("usage: python -m checks report") and "show this help message and exit" in text


def test_argparse_texts_are_argparse_own_ids():
    # our ids must be argparse's, byte for byte, or nothing is translated: each one is in argparse's source
    import argparse
    import inspect

    from checks.cli_argparse import ARGPARSE_TEXTS
    source = inspect.getsource(argparse)
    for text in ARGPARSE_TEXTS:
        for form in (text if isinstance(text, tuple) else (text,)):
            assert repr(form) in source or repr(form).replace("'", '"') in source, form


# --- configuration errors: the expected form ----------------------------------------------------------

def test_configuration_errors_name_the_expected_form_in_french_and_keep_english():
    import pytest

    from checks.cli import error_text
    from checks.engine.config import ConfigError
    bad = {"RUN_LEASE_SECONDS": "0", "PG_SERVER_NAME": "Prod_DB", "PG_AUTH": "kerberos", "LANGUAGE": "klingon",
           "BLOB_RECENT_PREFIX_TEMPLATE": "uploads/", "BLOB_RETENTION_MIN_DAYS": "60", "BLOB_RETENTION_MAX_DAYS": "30"}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(bad)
    english = error_text(err.value)
    assert "  RUN_LEASE_SECONDS: expected an integer between 15 and 60, got 0" in english
    assert "  PG_SERVER_NAME: expected a flexible server name (3-63 lowercase letters, digits and hyphens), " \
        "got 'Prod_DB'" in english
    with language("fr"):
        french = error_text(err.value)
    assert french.startswith("configuration invalide :\n")
    for line in ("  RUN_LEASE_SECONDS : attendu : un entier entre 15 et 60, reçu 0",
                 "  PG_SERVER_NAME : attendu : un nom de serveur flexible (3 à 63 lettres minuscules, chiffres et "
                 "traits d'union), reçu 'Prod_DB'",
                 "  PG_AUTH : une valeur parmi password, entra attendue, reçu 'kerberos'",
                 "  LANGUAGE : en ou fr (une liste POSIX comme fr_FR:fr est acceptée)",
                 "  BLOB_RECENT_PREFIX_TEMPLATE : attendu : un préfixe de nom de blob avec {yyyy} et/ou {mm}, par "
                 "exemple uploads/{yyyy}/{mm}/, reçu 'uploads/'",
                 "  BLOB_RETENTION_MAX_DAYS : valeur ≥ BLOB_RETENTION_MIN_DAYS (60) attendue, reçu 30"):
        assert line in french, (line, french)
    assert "expected" not in french


def test_connection_strings_and_schedules_name_their_form_in_french():
    import pytest

    from checks.cli import error_text
    from checks.engine.config import ConfigError
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"JOURNAL_ACCOUNT_URL": "ftp://x", "PGPORT": "x", "RESTORE_DRILL_SCHEDULE": "5",
                           "BLOB_CONNECTION_STRING": "AccountName=a"})
    with language("fr"):
        french = error_text(err.value)
    assert "  JOURNAL_ACCOUNT_URL : attendu : une URL http(s), par exemple https://COMPTE.table.core.windows.net, " \
        "reçu 'ftp://x'" in french
    assert "  PGPORT : numéro de port de 1 à 65535 attendu (chiffres ASCII), reçu 'x'" in french
    assert "; reçu 1 champ dans '5'" in french  # one field: singular
    assert "BLOB_CONNECTION_STRING : attendu : des paires Clé=Valeur" in french and "expected" not in french
    english = error_text(err.value)
    assert "got 1 field in '5'" in english and "JOURNAL_ACCOUNT_URL: expected an http(s) URL" in english


# --- failed Azure reads: our wording around Azure's own text ------------------------------------------

def _http_error(status, code=None, message="Azure's own words"):
    from azure.core.exceptions import HttpResponseError
    exc = HttpResponseError(message=message)
    exc.status_code, exc.error_code = status, code
    return exc


def test_failed_azure_reads_are_worded_in_french_around_azures_text():
    from checks.connect.azure import arm_error, data_plane_error
    from checks.families.postgres import ServerTarget
    target = ServerTarget("sub-1", "rg-prod", "medicapp-db")
    denied = arm_error(_http_error(403), target.resource, target.scope)
    fact = json.loads(json.dumps(message_facts(summary=denied.reason, remediation=denied.remediation)))
    fr, en = translator("fr"), translator("en")
    assert en.message("", fact["summary"]) == "access denied (403) reading server medicapp-db"
    assert fr.message("", fact["summary"]) == "accès refusé (403) en lisant le serveur medicapp-db"
    assert fr.message("", fact["remediation"]) == "Attribuer à l'identité de la fonction le rôle Reader sur le serveur medicapp-db."
    busy = arm_error(_http_error(503, message="Service Unavailable"), target.resource, target.scope)
    assert fr.message(busy.reason) == ("Azure a répondu 503 pour le serveur medicapp-db après les nouvelles tentatives du "
                                       "SDK : Service Unavailable")  # Azure's text itself stays as Azure wrote it
    blocked = data_plane_error(_http_error(403, "AuthorizationFailure"), "stdocs", "ordonnances", msg("listing blobs"))
    assert str(blocked.reason) == ("access denied (403 AuthorizationFailure) listing blobs in container ordonnances "
                                   "of storage account stdocs")
    assert fr.message(blocked.reason) == ("accès refusé (403 AuthorizationFailure) en listant les blobs dans le "
                                          "conteneur ordonnances du compte de stockage stdocs")
    assert fr.message(blocked.remediation).startswith("L'accès est bloqué par les règles réseau du compte")
