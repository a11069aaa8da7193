"""French and English output: catalog completeness, language-neutral journal facts, rendering."""
from __future__ import annotations

import ast
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from checks.engine.config import ConfigError, Settings
from checks.engine.i18n import msg, msgn, negotiate, placeholders, translator
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.journal.store import Journal, check_entity, result_from_entity
from checks.report.checklist import month_report
from checks.report.render import render

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devtools import i18n as catalog_tools  # noqa: E402

UTC = timezone.utc
PROCEDURE_BOXES = ["Backup PostgreSQL récent visible", "Rétention conforme aux exigences",
                   "Blob Storage : soft delete actif", "Dry-run OK (script test_restore)",
                   "Note des résultats dans un journal interne"]
PERCENT = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def extracted():
    return [m for m in catalog_tools.extract() if m.id]


@pytest.fixture(scope="module")
def french():
    return {m.id: m for m in catalog_tools.read("fr") if m.id}


def test_every_message_id_has_a_french_translation(extracted, french):
    missing = [m.id for m in extracted if m.id not in french or catalog_tools.untranslated(french[m.id])]
    fuzzy = [m.id for m in extracted if m.id in french and french[m.id].fuzzy]
    assert missing == [] and fuzzy == [], (missing, fuzzy)


def _forms(text):
    return list(text) if isinstance(text, (tuple, list)) else [text]


def test_placeholders_match_between_languages(french):
    # every plural form (singular and plural id, each French form) has the same placeholders
    wrong = [(msgid, m.string) for msgid, m in french.items() for source in _forms(msgid) for form in _forms(m.string)
             if placeholders(source) != placeholders(form)
             or set(PERCENT.findall(source)) - {"num"} != set(PERCENT.findall(form)) - {"num"}]
    assert wrong == []


def test_message_templates_use_plain_placeholders(extracted):
    # a format spec ({age:.1f}) would break once the value is a localised string
    specs = [m.id for m in extracted for text in _forms(m.id) if re.search(r"\{\w+[:!][^}]*\}", text)]
    assert specs == []


def test_check_metadata_is_extracted_so_titles_translate(extracted):
    from checks.engine.registry import all_checks
    ids = {m.id for m in extracted}
    untranslatable = [(spec.id, text) for spec in all_checks().values()
                      for text in (spec.title, spec.remediation, spec.risk) if text not in ids]
    assert untranslatable == []


def test_message_is_english_text_that_keeps_its_id_and_params():
    m = msg("newest backup is {hours} h old", hours=30.5)
    assert m == "newest backup is 30.5 h old" and isinstance(m, str)
    assert m.as_fact() == {"id": "newest backup is {hours} h old", "params": {"hours": 30.5}}
    import copy
    import pickle
    assert pickle.loads(pickle.dumps(m)).as_fact() == m.as_fact() and copy.deepcopy(m).msgid == m.msgid


def test_numbers_and_dates_are_formatted_for_the_language():
    fr, en = translator("fr"), translator("en")
    assert fr.value(1234) == "1\u202f234" and fr.value(1234.5) == "1\u202f234,5"
    assert en.value(1234) == 1234 and en.value(90.0) == 90.0  # English keeps the plain forms it always had
    assert fr.date(datetime(2026, 11, 26, tzinfo=UTC)) == "26 nov. 2026"
    counted = msgn("{count} run recorded this month", "{count} runs recorded this month", "count", count=1234)
    assert fr.render(counted) == "1\u202f234 exécutions enregistrées ce mois-ci"


def test_a_stored_text_without_an_id_renders_as_stored():
    assert translator("fr").message("a summary written by an older version") == "a summary written by an older version"
    # a fact whose parameters no longer fit its template keeps the stored evidence
    assert translator("fr").message("stored", {"id": "run {run_id} not found", "params": {}}) == "stored"


def test_language_setting_accepts_posix_lists_and_names_the_variable_when_wrong():
    assert Settings.from_env({"LANGUAGE": "fr_FR:fr"}).language == "fr"
    assert Settings.from_env({}).language == "en"
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LANGUAGE": "klingon"})
    assert "LANGUAGE" in err.value.problems


def test_accept_language_negotiation():
    assert negotiate("fr-FR,fr;q=0.9,en;q=0.8") == "fr"
    assert negotiate("de-DE,en;q=0.5") == "en"
    assert negotiate("de") is None and negotiate("") is None


def _run(started: datetime) -> Run:
    run = Run(run_id=started.strftime("%Y%m%dT%H%M%SZ") + "-abc123", trigger="timer", started_at=started,
              finished_at=started + timedelta(seconds=5))
    run.results.append(CheckResult(
        "blob.soft_delete", "Blob soft delete on, retention within policy", Status.FAIL, Severity.HIGH,
        msg("{check_id} was skipped: {reason}", check_id="x", reason="y"), {"enabled": False},
        "Enable blob versioning on the storage account.", started, 10,
        messages={"summary": {"id": "{check_id} was skipped: {reason}", "params": {"check_id": "x", "reason": "y"}}}))
    return run


def test_journal_keeps_the_message_fact_and_old_entities_still_read():
    run = _run(datetime(2026, 11, 3, 6, tzinfo=UTC))
    entity = check_entity(run, run.results[0])
    back = result_from_entity(entity)
    assert back.messages["summary"]["id"] == "{check_id} was skipped: {reason}"
    del entity["Messages"]
    assert result_from_entity(entity).messages == {}


def test_a_journaled_month_renders_in_french_and_english(azurite, journal_table_name):
    journal = Journal.from_settings(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string,
                                                       "JOURNAL_TABLE": journal_table_name}))
    journal.write_run(_run(datetime(2026, 11, 3, 6, tzinfo=UTC)))
    report = month_report(journal, "2026-11")
    fr_md, fr_html = render(report, "md", lang="fr"), render(report, "html", lang="fr")
    en_md = render(report, "md", lang="en")
    from checks.report.pages import md_escape
    for text, escape in ((fr_md, md_escape), (fr_html, str)):
        for label in PROCEDURE_BOXES:
            assert escape(label) in text
        assert "x a été ignoré : y" in text  # the journaled summary, rendered from its id in French
        assert "Activer le versioning des blobs" in text  # static remediation through the catalog
        assert "Recent PostgreSQL backup visible" not in text and "Failures and warnings" not in text
    assert '<html lang="fr">' in fr_html and "3 nov. 2026" in fr_md
    assert "Recent PostgreSQL backup visible" in en_md and "x was skipped: y" in en_md
    assert "Backup PostgreSQL récent visible" not in en_md


def test_cli_report_lang_fr(azurite, journal_table_name, capsys):
    from checks.cli import main
    env = {"AzureWebJobsStorage": azurite.connection_string, "JOURNAL_TABLE": journal_table_name}
    Journal.from_settings(Settings.from_env(env)).write_run(_run(datetime(2026, 10, 3, 6, tzinfo=UTC)))
    import io
    out = io.StringIO()
    assert main(["report", "--month", "2026-10", "--lang", "fr"], out=out, env=env) == 1
    assert "# Checklist mensuelle des sauvegardes — 2026-10" in out.getvalue()
    out = io.StringIO()
    assert main(["report", "--month", "2026-10"], out=out, env={**env, "LANGUAGE": "fr"}) == 1
    assert "Backup PostgreSQL récent visible" in out.getvalue()
    out = io.StringIO()
    assert main(["--lang", "en", "report", "--month", "2026-10"], out=out, env={**env, "LANGUAGE": "fr"}) == 1
    assert "Recent PostgreSQL backup visible" in out.getvalue()


def test_http_errors_and_pages_speak_the_callers_language(env_patch, base_env):
    import json

    import azure.functions as func

    from checks import http_api
    env_patch(base_env)

    def call(url: str, headers: dict | None = None, body: bytes = b"{"):
        req = func.HttpRequest("POST", url, headers={"content-type": "application/json", **(headers or {})},
                               body=body, params=dict(p.split("=") for p in url.partition("?")[2].split("&") if p))
        return http_api.verify(req)

    answer = call("/api/verify?lang=fr")
    assert answer.status_code == 400 and json.loads(answer.get_body())["error"].startswith("corps JSON mal formé")
    answer = call("/api/verify", {"accept-language": "fr-FR,fr;q=0.9"})
    assert json.loads(answer.get_body())["error"].startswith("corps JSON mal formé")
    english = json.loads(call("/api/verify").get_body())
    assert english["error"].startswith("malformed JSON body") and english["error_id"] == "malformed JSON body: {reason}"
    wrong = call("/api/verify?lang=xx")
    assert wrong.status_code == 400 and "lang" in json.loads(wrong.get_body())["error"]


# --- check families speak through messages ------------------------------------------------------

# Families whose rules write every summary and remediation as msg(...); the others still write
# English f-strings (docs/languages.md says so) and join this list as they move.
CONVERTED_FAMILIES = ["checks/families/postgres.py", "checks/families/storage_protection.py",
                      "checks/families/postgres_protection.py",
                      "checks/families/storage_lifecycle.py",
                      "checks/families/canary.py", "checks/families/blob.py",
                      "checks/families/blob_activity.py", "checks/families/database.py",
                      "checks/families/signed_document.py"]
_OUTCOME_FACTORIES = {"passed", "warn", "fail", "error", "skipped"}


def _literal_texts(tree: ast.AST) -> list[int]:
    """Line numbers of Outcome calls whose summary or remediation is a bare string or f-string."""
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        factory = isinstance(func, ast.Attribute) and func.attr in _OUTCOME_FACTORIES and \
            getattr(func.value, "id", None) == "Outcome"
        direct = getattr(func, "id", None) == "Outcome"
        texts = node.args[:1] if factory else node.args[1:2] if direct else []
        texts += [k.value for k in node.keywords if k.arg in ("summary", "remediation")] if factory or direct else []
        if factory and len(node.args) > 1:
            texts.append(node.args[1])
        bad += [node.lineno for t in texts if isinstance(t, (ast.JoinedStr, ast.Constant)) and
                isinstance(getattr(t, "value", ""), str)]
    return bad


@pytest.mark.parametrize("path", CONVERTED_FAMILIES)
def test_converted_families_write_no_bare_strings(path):
    assert _literal_texts(ast.parse((ROOT / path).read_text())) == []


def test_the_ast_check_sees_a_bare_string():
    assert _literal_texts(ast.parse('Outcome.fail(f"x {y}", "fix it")\nOutcome.passed(msg("ok"))')) == [1, 1]


def test_a_postgres_rule_renders_in_french_through_the_journal_form():
    import dataclasses
    import json

    from checks.engine.runner import message_facts
    from checks.families.postgres import ServerFacts, evaluate_retention
    now = datetime(2026, 11, 26, 6, tzinfo=UTC)
    facts = ServerFacts(name="medicapp-db", state="Stopped", sku_tier="Burstable", sku_name="B1ms", retention_days=3,
                        geo_redundant_backup="Disabled", earliest_restore=now - timedelta(days=3),
                        created_at=now - timedelta(days=400), location="westeurope", version="16", checked_at=now)
    outcome = evaluate_retention(facts, Settings.from_env({}))
    assert outcome.status is Status.FAIL
    assert outcome.summary == "backup retention 3 days is below the required 7; server state is Stopped (not Ready)"
    stored = json.loads(json.dumps(message_facts(summary=outcome.summary, remediation=outcome.remediation)))
    fr = translator("fr")
    assert fr.message(outcome.summary, stored["summary"]) == (
        "la rétention des sauvegardes de 3 jours est inférieure aux 7 exigés ; l'état du serveur est Stopped (pas Ready)")
    assert fr.message(outcome.remediation, stored["remediation"]).startswith(
        "Porter la période de rétention des sauvegardes du serveur à au moins 7 jours")
    assert dataclasses.replace(outcome).summary == outcome.summary


def test_cli_list_shows_check_titles_in_the_chosen_language():
    import io

    from checks.cli import main
    out = io.StringIO()
    assert main(["--lang", "fr", "list"], out=out, env={}) == 0
    assert "PostgreSQL : une sauvegarde récente est listée" in out.getvalue()
    assert "Exercice de restauration : restauration à un instant donné vers un nouveau serveur" in out.getvalue()
    english = io.StringIO()
    assert main(["list"], out=english, env={}) == 0
    assert "PostgreSQL: a recent backup is listed" in english.getvalue()
