"""Every user-visible text of checks/ goes through the catalog, and the French leftovers of issue 29
item 7 read as French.

The scan reads every module of checks/ with `ast` (tests/test_i18n_faces.py's `_words` decides what is a
bare English text) and looks wider than the faces' list of sinks: everything written or printed, every
exception raised with a text (it becomes a CLI error line, an HTTP error, a skipped/error result), a run's
notes and journal status, a record's summary/error/cleanup, an Outcome. What is left out is said below,
with why; a module needs no hand-listing to be scanned.
"""
from __future__ import annotations

import ast
import html
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from checks.engine.config import Settings
from checks.engine.i18n import language, msg, translator
from test_i18n_faces import TRANSLATING_CALLS, WORD, _words

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
MODULES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "checks").rglob("*.py"))

SINK_CALLS = {"print", "write", "event", "usage_error", "Outcome"}
SINK_LISTS = {"lines", "reasons", "problems", "warnings", "notes"}
SINK_ATTRIBUTES = {"summary", "cleanup", "error", "journal_status"}
OUTCOME_FACTORIES = {"passed", "warn", "fail", "error", "skipped"}

# Exceptions whose text never reaches a user as it is: a bug in the verifier (the runner turns any crash
# into an error result naming the type, and the host logs it), Python's own protocol errors, and the
# internal signals that a face catches and turns into its own translated text. Not KeyError: select_targets'
# "unknown target" is shown by every face that takes --target.
INTERNAL_ERRORS = {
    "RuntimeError", "AssertionError", "TypeError", "NotImplementedError", "AttributeError",
    "RetryLater",  # dispatch/handler.py: makes the Functions host retry the queue message; logged only
    "BadMessage",  # dispatch/message.py: a queue body that is not a fleet message; logged, then dropped
    "CanaryGuardError",  # families/canary.py: "this is a bug": the canary wrote outside its own prefix
}

# Module-level allowances, each with why (path -> reason). Kept short on purpose: a new face or
# family is scanned like the rest.
ALLOWED_MODULES = {
    # the queue's outcome records (ran / duplicate / refused ...) are what the host logs for operators and
    # what the bench and tests assert on; nothing of the handler is shown in a report, page or CLI line
    "checks/dispatch/handler.py": "queue outcome details go to the Functions log (operators, English)",
    # tagged-resource discovery problems are the text of DiscoveryError, raised to the log of the
    # timer/queue host and to `fleet list`'s error line; they quote Azure resource ids and tags verbatim
    "checks/connect/discovery.py": "discovery errors quote Azure's resource ids and tags for operators",
    # the Babel extraction and the old ids are data, not texts shown as they are
    "checks/engine/i18n_renamed.py": "old message ids (data)",
    # the daily timer's heartbeat and drill-age lines go to the Functions log only, where the dead-man
    # alert's query matches them (infra/modules/alerts.bicep); no face shows them
    "checks/heartbeat.py": "log lines the dead-man alert matches (operators, English)",
}


# Single texts that look like English but are not shown as they are, each with why.
ALLOWED_TEXTS = {
    ("checks/report/checklist.py", "ASCII digits only"): "caught on the next line, replaced by the months error",
    ("checks/restore/blobs.py", "apply_blobs needs a valid plan"): "a bug guard: the faces refuse first",
    ("checks/restore/blob_ranges.py", "apply_ranges needs a valid plan"): "a bug guard: the faces refuse first",
    ("checks/restore/postgres.py", "apply_postgres needs a valid plan"): "a bug guard: the faces refuse first",
    ("checks/fleet_cli.py", " (--all-targets)"): "the flag as typed, after a translated text",
}

# Modules still holding bare texts, with how many (the count may only go down). Empty since the TARGETS, fleet
# queue, drill ARM and journal seal/baseline/chain/lease errors went through the catalog: every module of
# checks/ is held to zero, and a new bare text fails here. Keep it empty.
PENDING: dict[str, int] = {}


def _raised(node: ast.Raise) -> list[ast.AST]:
    exc = node.exc
    if not isinstance(exc, ast.Call):
        return []
    name = getattr(exc.func, "id", None) or getattr(exc.func, "attr", None)
    return [] if name in INTERNAL_ERRORS else [exc] if name in TRANSLATING else list(exc.args)


def _call_sinks(node: ast.Call) -> list[ast.AST]:
    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
    owner = getattr(node.func, "value", None)
    owner_name = getattr(owner, "id", None) or getattr(owner, "attr", None)
    if name == "write" and owner is not None or name in SINK_CALLS and name != "write":  # a bare write(name, page)
        return [a for a in node.args if not (name == "print" and isinstance(a, ast.Name))]  # is a file helper
    if name in ("append", "extend", "insert") and owner_name in SINK_LISTS:
        return list(node.args[-1:])
    if name in OUTCOME_FACTORIES and owner_name == "Outcome":
        return list(node.args[:2]) + [k.value for k in node.keywords if k.arg in ("summary", "remediation")]
    return []


def sinks(tree: ast.AST) -> list[ast.AST]:
    """Expressions that end up in front of a person."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            found += _raised(node)
        elif isinstance(node, ast.Call):
            found += _call_sinks(node)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "attr", None) in SINK_ATTRIBUTES or getattr(t, "id", None) in SINK_LISTS
                   for t in targets) and node.value is not None:
                found.append(node.value)
    return found


TRANSLATING = {"invalid", "form", "form_n", "_pattern"}  # devtools/i18n.py KEYWORDS beyond the faces' calls


def _text(node: ast.AST) -> bool:
    """A bare English text: _words' answer, less a single token ("disabled", "form": an id a face words)
    and what goes through the configuration errors' translating calls."""
    if isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in TRANSLATING:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and TOKEN.fullmatch(node.value):
        return False
    if isinstance(node, ast.JoinedStr):
        return _words(node)
    return _words(node) if not isinstance(node, ast.Call) or \
        (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in ("join", "format") else False


TOKEN = re.compile(r"[a-z_]+")


def _constants(node: ast.AST) -> list[str]:
    """The string constants of an expression outside any translating call."""
    if isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) in \
            TRANSLATING | TRANSLATING_CALLS:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and WORD.search(node.value) else []
    return [text for child in ast.iter_child_nodes(node) for text in _constants(child)]


def _allowed(node: ast.AST, path: str) -> bool:
    texts = _constants(node)
    return bool(texts) and all((path, text) in ALLOWED_TEXTS for text in texts)


def bare_texts(source: str, path: str = "") -> list[int]:
    return sorted({sink.lineno for sink in sinks(ast.parse(source)) if _text(sink) and not _allowed(sink, path)})


def test_the_scan_covers_every_module_of_checks():
    assert len(MODULES) > 80 and "checks/engine/runner.py" in MODULES and "checks/report/site.py" in MODULES
    assert set(ALLOWED_MODULES) | set(PENDING) | {path for path, _ in ALLOWED_TEXTS} <= set(MODULES)


@pytest.mark.parametrize("path", [m for m in MODULES if m not in ALLOWED_MODULES])
def test_no_user_visible_text_bypasses_the_catalog(path):
    found = bare_texts((ROOT / path).read_text(), path)
    assert len(found) == PENDING.get(path, 0), (found, "a text a person reads goes through msg()/_(); "
                                                "a module with fewer bare texts lowers its PENDING count")


def test_the_scan_sees_bare_texts_the_faces_list_did_not():
    source = ('run.notes.append(f"lease not taken ({why})")\nraise ReportError(f"month must be {x}")\n'
              'run.journal_status = "error: refused"\nout.write(f"Wrote {n} pages")\n'
              'raise RuntimeError(f"bug {x}")\nlog.error("x %s failed", y)\nraise usage_error(_("bad {x}", x=1))\n'
              'return Outcome.error(f"timed out after {t} s")\n')
    assert bare_texts(source) == [1, 2, 3, 4, 8]


def test_the_scan_would_have_seen_the_leftovers_of_issue_29():
    # the texts as they were: runner's timeout, the site's line, the lease note, a report error
    assert bare_texts('return Outcome.error(f"timed out after {t:g} s; the check was abandoned", "Raise it.")\n') == [1]
    assert bare_texts('out.write(f"Wrote {len(w)} pages to {d}; open {d / INDEX}\\n")\n') == [1]
    assert bare_texts('notes.append(f"run lease not taken ({why}); concurrent runs were not excluded")\n') == [1]
    assert bare_texts('raise ReportError(f"cannot sign off {month}: the month has not started yet")\n') == [1]


# --- the French leftovers, each as a French reader sees it -------------------------------------------

def _run(**result):
    from checks.engine.model import CheckResult, Run, Severity, Status
    at = datetime(2026, 12, 6, 19, 47, 4, tzinfo=UTC)
    run = Run(run_id="20261206T194704Z-3e42a1", trigger="cli", started_at=at,
              finished_at=datetime(2026, 12, 6, 19, 47, 4, 100000, tzinfo=UTC))
    base = dict(check_id="database.signed_document", title="Newest signed document: file present and intact",
                status=Status.WARN, severity=Severity.HIGH, summary=msg("soft delete is OFF"), details={},
                remediation="", started_at=at, duration_ms=1234)
    run.results.append(CheckResult(**{**base, **result}))
    return run


def test_run_page_in_french_severity_duration_times_and_numbers():
    from checks.engine.model import Severity
    from checks.report.pages import run_page
    details = {"ordered_at": "2026-12-03T19:46:35.992779+00:00", "latency_ms": 12.9, "size": 1234}
    run = _run(details=details, severity=Severity.CRITICAL)
    with language("fr"):
        page = run_page(run)
    assert "<dd>critique</dd>" in page and "<dd>0,1 s</dd>" in page and "1\u202f234 ms" in page
    assert "3 déc. 2026 19:46:35 UTC" in page and "2026-12-03T19:46" not in page
    assert ">12,9<" in page and ">1\u202f234<" in page
    with language("en"):
        english = run_page(run)
    assert "<dd>critical</dd>" in english and "<dd>0.1 s</dd>" in english and "2026-12-03T19:46:35.992779+00:00" in english


def test_severity_words_in_the_month_report_and_the_check_list(azurite, journal_table_name):
    from checks.cli import main
    from checks.journal.store import Journal
    from checks.report.checklist import month_report
    from checks.report.render import render
    env = {"AzureWebJobsStorage": azurite.connection_string, "JOURNAL_TABLE": journal_table_name}
    journal = Journal.from_settings(Settings.from_env(env))
    journal.write_run(_run())
    report = month_report(journal, "2026-12")
    assert "gravité élevée" in render(report, "md", lang="fr") and "gravité élevée" in render(report, "html", lang="fr")
    assert "severity high" in render(report, "md", lang="en")
    out = io.StringIO()
    assert main(["--lang", "fr", "list"], out=out, env={}) == 0
    assert "database.connectivity            critique" in out.getvalue() and " high " not in out.getvalue()


def test_site_line_and_journaled_notes_in_french(azurite, journal_table_name, tmp_path):
    from checks.cli import main
    from checks.journal.store import Journal
    from checks.report.pages import run_page
    env = {"AzureWebJobsStorage": azurite.connection_string, "JOURNAL_TABLE": journal_table_name}
    journal = Journal.from_settings(Settings.from_env(env))
    run = _run()
    run.notes.append(msg("run lease not taken ({reason}); concurrent runs were not excluded", reason="403 Forbidden"))
    run.notes.append("a plain note")
    journal.write_run(run)
    back = journal.get_run(run.run_id)
    with language("fr"):
        page = html.unescape(run_page(back))
    assert "bail d'exécution non pris (403 Forbidden) ; les exécutions concurrentes n'ont pas été exclues" in page
    assert "a plain note" in page
    out = io.StringIO()
    assert main(["--lang", "fr", "report", "--site", str(tmp_path / "site"), "--month", "2026-12", "--months", "1"],
                out=out, env=env) == 0
    assert out.getvalue().startswith("11 pages écrites dans ") and "Wrote" not in out.getvalue()  # 8: frameworks
    assert f" ; ouvrir {tmp_path / 'site' / 'index.html'}" in out.getvalue()


def test_a_note_whose_fact_does_not_give_back_its_text_is_shown_as_stored():
    from checks.engine.i18n import restored_notes
    fact = {"id": "run lease not taken ({reason}); concurrent runs were not excluded", "params": {"reason": "x"}}
    assert restored_notes(["edited text"], json.dumps([fact])) == ["edited text"]
    assert restored_notes(["a", "b"], "not json") == ["a", "b"]
    again = restored_notes(["run lease not taken (x); concurrent runs were not excluded"], json.dumps([fact]))
    assert translator("fr").message(again[0]).startswith("bail d'exécution non pris (x)")


def test_one_missing_variable_is_non_defini_several_are_non_definis():
    from checks.engine.model import NotConfigured
    S = Settings.from_env({})
    with pytest.raises(NotConfigured) as one:
        S.require("blob_canary_container")
    assert str(one.value.args[0]) == "BLOB_CANARY_CONTAINER not set"
    assert translator("fr").message(one.value.args[0]) == "BLOB_CANARY_CONTAINER non défini"
    with pytest.raises(NotConfigured) as two:
        S.require("azure_subscription_id", "pg_resource_group")
    assert translator("fr").message(two.value.args[0]) == "AZURE_SUBSCRIPTION_ID et PG_RESOURCE_GROUP non définis"
    # facts journaled before the split read right too
    old_one = {"id": "{names} not set", "params": {"names": "BLOB_CANARY_CONTAINER"}}
    old_two = {"id": "{names} not set", "params": {"names": {"$msg": {"id": "{names} and {last}",
                                                                       "params": {"names": "A", "last": "B"}}}}}
    assert translator("fr").message("BLOB_CANARY_CONTAINER not set", old_one) == "BLOB_CANARY_CONTAINER non défini"
    assert translator("fr").message("A and B not set", old_two) == "A et B non définis"
    assert translator("en").message("BLOB_CANARY_CONTAINER not set", old_one) == "BLOB_CANARY_CONTAINER not set"


def test_restore_plans_say_fenetre_inconnue_and_zero_octet():
    from checks.restore.blob_ranges import RangePlan
    from checks.restore.blobs import BlobPlan
    from checks.restore_text import describe_blob_plan, describe_range_plan
    with language("fr"):
        empty = describe_blob_plan(BlobPlan(account="acct", container="docs", prefix=""))
        unknown = describe_range_plan(RangePlan(account="acct", resource_group="rg", container="docs", prefix=""))
        known = describe_range_plan(RangePlan(account="acct", resource_group="rg", container="docs", prefix="",
                                              window=["2026-11-01T05:50:00Z", "2026-12-01T05:50:00Z"]))
    assert "0 blob à restaurer, 0 octet ; nombre listé : 0" in empty
    assert "fenêtre inconnue" in unknown and "inconnu\n" not in unknown
    assert "fenêtre 1 nov. 2026 05:50 UTC .. 1 déc. 2026 05:50 UTC" in known
    english = describe_range_plan(RangePlan(account="acct", resource_group="rg", container="docs", prefix=""))
    assert "- ; window unknown" not in english and "-; window unknown" in english
    assert "0 blobs to restore, 0 bytes; 0 listed" in describe_blob_plan(BlobPlan(account="a", container="c", prefix=""))


def test_attention_lines_put_a_space_before_the_colon_in_french():
    from checks.cli_text import print_attention
    out = io.StringIO()
    with language("fr"):
        print_attention(_run(), out)
    assert "  AVERT. database.signed_document : " in out.getvalue()
    english = io.StringIO()
    print_attention(_run(), english)
    assert "database.signed_document: soft delete is OFF" in english.getvalue()


def test_a_check_that_times_out_reads_in_french():
    import threading

    from checks.engine.context import RunContext
    from checks.engine.model import CheckSpec, Severity
    from checks.engine.runner import run_checks
    release = threading.Event()
    spec = CheckSpec(id="t.slow", title="slow", severity=Severity.HIGH, remediation="", risk="r",
                     run=lambda _ctx: release.wait(5), timeout_seconds=1)
    try:
        result = run_checks([spec], RunContext(settings=Settings.from_env({})), "cli").results[0]
    finally:
        release.set()
    assert result.summary == "timed out after 1 s; the check was abandoned"
    fr = translator("fr")
    assert fr.message(result.summary, result.messages["summary"]) == "délai dépassé après 1 s ; le contrôle a été abandonné"
    assert fr.message(result.remediation, result.messages["remediation"]).startswith("Trouver pourquoi la cible")


def test_report_input_errors_read_in_french():
    from checks.report.checklist import check_month
    from checks.report.fleet import checklist_for
    from checks.report.model import ReportError
    fr = translator("fr")
    with pytest.raises(ReportError) as bad_fleet:
        checklist_for(None, "2026-12", Settings.from_env({}), fleet="2")
    assert fr.message(bad_fleet.value.args[0]) == "fleet attendu 1 ou 0, reçu '2'"
    with pytest.raises(ReportError) as both:
        checklist_for(None, "2026-12", Settings.from_env({}), fleet=True, target="prod")
    assert fr.message(both.value.args[0]).startswith("fleet (--fleet) montre toutes les cibles")
    with pytest.raises(ReportError) as month:
        check_month("2026-13")
    assert fr.message(month.value.args[0]) == "mois attendu au format AAAA-MM (chiffres ASCII, 2000-2099), reçu '2026-13'"
    assert str(month.value) == "month must be YYYY-MM (ASCII digits, 2000-2099), got '2026-13'"  # English unchanged


def test_detail_texts_on_a_run_page_read_in_french_through_the_journal(azurite, journal_table_name):
    from checks.engine.model import Outcome
    from checks.engine.runner import _to_result
    from checks.journal.store import Journal
    from checks.report.pages import run_page
    from checks.engine.registry import all_checks
    spec = all_checks()["blob.recent_file"]
    outcome = Outcome.passed(msg("soft delete is OFF"), strategy="listing",
                             strategy_reason=msg("change feed state unknown ({reason})",
                                                 reason=msg("{name} not set", name="AZURE_SUBSCRIPTION_ID")),
                             checked_at="2026-12-03T19:46:35Z")
    run = _run()
    run.results[:] = [_to_result(spec, outcome, run.started_at, 5)]
    env = {"AzureWebJobsStorage": azurite.connection_string, "JOURNAL_TABLE": journal_table_name}
    journal = Journal.from_settings(Settings.from_env(env))
    journal.write_run(run)
    back = journal.get_run(run.run_id)
    assert back.results[0].details["strategy_reason"] == "change feed state unknown (AZURE_SUBSCRIPTION_ID not set)"
    with language("fr"):
        page = html.unescape(run_page(back))
    assert "état du flux de modifications inconnu (AZURE_SUBSCRIPTION_ID non défini)" in page
    assert "3 déc. 2026 19:46:35 UTC" in page and "change feed state" not in page


# --- the texts PENDING held, as a French reader meets them ------------------------------------------

def test_targets_errors_name_the_target_and_read_in_french():
    from checks.engine.config import ConfigError
    from checks.engine.fleet import TargetsError, parse_targets
    fr = translator("fr")
    cases = {'[{"name": "a", "zz": 1}]': "cible 1 (a) : clé inconnue 'zz' ; attendu : name, postgres, storage, settings",
             '[{"name": "A"}]': "cible 1 : name : attendu 1 à 40 lettres minuscules, chiffres ou tirets, commençant "
                                "par une lettre ou un chiffre, reçu 'A'",
             '[{"name": "a", "settings": {"LANGUAGE": "fr"}}]':
                 "cible 1 (a) : settings : LANGUAGE vaut pour tout le déploiement et ne peut pas changer d'une cible "
                 "à l'autre",
             '[{"name": "a", "settings": {"BACKUP_MAX_AGE_HOURS": "x"}}]':
                 "cible 1 (a) : BACKUP_MAX_AGE_HOURS : attendu : un entier entre 1 et 960 (chiffres ASCII), reçu 'x'"}
    for raw, french in cases.items():
        with pytest.raises(TargetsError) as error:
            parse_targets(raw)
        assert fr.message(error.value.args[0]) == french
    assert str(error.value) == "target 1 (a): BACKUP_MAX_AGE_HOURS: expected an integer between 1 and 960 (ASCII " \
                               "digits), got 'x'"  # English unchanged
    with pytest.raises(ConfigError) as crossed:  # a target's own values contradicting each other
        Settings.from_env({"TARGETS": '[{"name": "a", "settings": {"BLOB_RETENTION_MIN_DAYS": "30", '
                                      '"BLOB_RETENTION_MAX_DAYS": "10"}}]'})
    assert fr.message(crossed.value.problems["TARGETS"]).startswith("cible a : BLOB_RETENTION_MAX_DAYS : valeur ≥")
    with pytest.raises(ConfigError) as name:
        Settings.from_env({"TARGET_NAME": "Prod"})
    assert "1 à 40 lettres minuscules" in fr.message(name.value.problems["TARGET_NAME"])


def test_queue_drill_and_journal_errors_read_in_french(tmp_path):
    from azure.core.exceptions import HttpResponseError

    from checks.dispatch.queue import DispatchError, queue_client
    from checks.drill.state import get_server
    from checks.engine.model import CheckError, JournalUnavailable
    from checks.journal.seal import SealUnavailable, container_client
    from checks.restore.local import KeptJournal
    fr = translator("fr")
    with pytest.raises(DispatchError) as queue:
        queue_client(Settings.from_env({}))
    assert fr.message(queue.value.args[0]).startswith("file de la flotte non configurée : définir ")

    class Servers:
        def get(self, group, name):
            error = HttpResponseError(message="Forbidden")
            error.status_code = 403
            raise error
    with pytest.raises(CheckError) as arm:
        get_server(type("Client", (), {"servers": Servers()})(), "rg-drill", "drill-1")
    assert fr.message(arm.value.reason, arm.value.reason.as_fact()) == "accès refusé (403) en lisant le serveur drill-1"
    with pytest.raises(SealUnavailable) as seal:  # the lease's blob client, not configured
        container_client(Settings.from_env({}))
    assert fr.message(seal.value.args[0]).startswith("journal non configuré : définir JOURNAL_ACCOUNT_URL")
    with pytest.raises(JournalUnavailable) as kept:
        KeptJournal(None, tmp_path, print)._journal()
    assert fr.message(kept.value.args[0]).startswith("journal non configuré : ")


def test_older_backups_not_listed_are_said_in_the_readers_language():
    from checks.cli_text import print_run
    from checks.engine.model import Severity, Status
    from checks.families.postgres import LISTING_CAP, listed_backups
    from test_postgres_rules import backup
    details = listed_backups(tuple(backup(f"b{i:02d}", i) for i in range(LISTING_CAP + 5)) + (backup("now", None),))
    assert details["not_listed"] == 6 and details["in_progress"] == 1 and details["listing"][0].startswith("- ")
    assert not any(WORD.search(line.split()[0]) for line in details["listing"])  # data: times, types, names
    run = _run(check_id="postgres.backup_recent", status=Status.PASS, severity=Severity.HIGH, details=details)
    out = io.StringIO()
    with language("fr"):
        print_run(run, out)
    assert "... et 6 sauvegardes plus anciennes non affichées" in out.getvalue() and "older" not in out.getvalue()
    assert "(1 sauvegarde en cours : pas encore d'heure de fin, affichée -)" in out.getvalue()
    english = io.StringIO()
    print_run(run, english)
    assert "... and 6 older backups not shown" in english.getvalue()
    assert "(1 backup in progress: no completion time yet, shown as -)" in english.getvalue()


def test_detail_keys_of_a_monthly_run_have_french_labels():
    from checks.report.labels import detail_label
    with language("fr"):
        shown = [detail_label(key) for key in ("no_baseline", "baseline_complete", "backup_count", "not_listed",
                                               "last_backup_name", "allow_shared_key_access", "final_delete")]
    assert shown == ["tables sans comptage accepté", "référence lue en entier", "sauvegardes listées",
                     "sauvegardes plus anciennes non listées", "nom de la dernière sauvegarde",
                     "accès par clé partagée autorisé", "canari supprimé à la fin"]


def test_token_values_of_details_are_words_of_the_readers_language():
    from checks.report.pages import detail_rows
    details = {"strategy": "listing", "methods": {"public.documents": "estimate", "public.patients": "exact"},
               "prefix": "listing"}  # another key's value is shown as stored
    with language("fr"):
        rows = {key: value for key, value, _ in detail_rows(details)}
    assert rows == {"strategy": "listage", "methods": [("public.documents", "estimation"), ("public.patients", "exact")],
                    "prefix": "listing"}
    english = {key: value for key, value, _ in detail_rows(details)}
    assert english["strategy"] == "listing" and english["methods"][0] == ("public.documents", "estimate")


def test_argparse_headings_put_a_space_before_the_colon_in_french(capsys):
    from checks.cli import main
    assert main(["--lang", "fr", "--help"], out=io.StringIO(), env={}) == 0
    text = capsys.readouterr().out
    assert "\narguments positionnels :\n" in text and "\noptions :\n" in text
    assert main(["--help"], out=io.StringIO(), env={}) == 0
    assert "\npositional arguments:\n" in capsys.readouterr().out  # English unchanged


def test_a_reason_quoted_inside_another_text_keeps_its_language(tmp_path):
    """str(exc) turned a message into plain English inside a French line: the reason is the message itself."""
    from checks.drill.rpo import RpoFacts, evaluate_rpo
    from checks.engine.model import JournalUnavailable, Run
    from checks.journal.spool import Spool
    from checks.restore.blobs import blob_input
    from checks.service import record
    fr = translator("fr")
    reasons, _ = blob_input("Bad_Name", None)
    assert fr.message(reasons[0]).startswith("--container : attendu : ") and "expected" not in fr.message(reasons[0])

    class Down:
        def write_run(self, run):
            raise JournalUnavailable(msg("journal write failed: {reason}", reason="503"))
    run = Run(run_id="20261206T194704Z-3e42a1", trigger="cli", started_at=datetime(2026, 12, 6, tzinfo=UTC))
    record(run, Down(), Spool(tmp_path))
    assert fr.message(run.journal_status) == "erreur : échec de l'écriture du journal : 503"
    _, summary, stored = evaluate_rpo(RpoFacts("public.documents.created_at", datetime(2026, 12, 1, tzinfo=UTC),
                                               error=msg("{name} not set", name="RPO_PROBE")))
    assert fr.message(summary) == "RPO non mesuré (RPO_PROBE non défini)" and stored["error"] == "RPO_PROBE not set"


# A caught exception quoted in a message as str(exc) loses the message it carries (str() of an exception is
# plain English text): in French the reason reads in English mid-sentence ("--container : expected ...").
# Quote the message itself (valueparse.reason_of, cli_text.reason_text). Left as text, each with why:
# (path, exception caught, message template) -> reason.
STR_REASONS = {
    ("checks/engine/config.py", "ValueError", "not valid JSON: {reason}"): "json's parser (English, line and column)",
    ("checks/engine/fleet.py", "ValueError", "expected a JSON list of targets, e.g. {example}; not JSON ({reason})"):
        "json's parser (English, line and column)",
    ("checks/http_api.py", "JSONDecodeError,UnicodeDecodeError", "malformed JSON body: {reason}"):
        "json's parser (English, line and column)",
    ("checks/http_api.py", "DiscoveryError", "error_response(str(exc))"): "discovery errors quote Azure ids",
    ("checks/fleet_cli.py", "DiscoveryError", "error: {reason}"): "discovery errors quote Azure ids (ALLOWED_MODULES)",
    ("checks/report/fleet.py", "DiscoveryError",
     "the targets of DISCOVER_TAG={tag} could not be discovered: {reason}"): "the same discovery errors",
}


def str_reasons(source: str, path: str = "") -> list[tuple[str, str, str]]:
    """(path, exception caught, template) of each message quoting a caught exception as str(exc)."""
    found = []
    for handler in (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ExceptHandler) and n.name):
        caught = ",".join(sorted(getattr(t, "id", None) or getattr(t, "attr", "?") for t in
                                 (handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type])))
        for node in (n for part in handler.body for n in ast.walk(part) if isinstance(n, ast.Call)):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            quoted = [k for k in node.keywords if isinstance(k.value, ast.Call) and getattr(k.value.func, "id", None)
                      == "str" and [getattr(a, "id", None) for a in k.value.args] == [handler.name]]
            if name in TRANSLATING | TRANSLATING_CALLS and quoted and node.args and isinstance(node.args[0], ast.Constant):
                found.append((path, caught, node.args[0].value))
            passed_on = [a for a in node.args[:1] if isinstance(a, ast.Call) and getattr(a.func, "id", None) == "str"
                         and [getattr(b, "id", None) for b in a.args] == [handler.name]]
            if passed_on and (name in REASON_CARRIERS or name.endswith(("Error", "Unavailable", "Refused"))) \
                    and name not in INTERNAL_ERRORS:  # raise ReportError(str(exc)), BadRequest(str(exc)), ...
                found.append((path, caught, f"{name}(str(exc))"))
    return [f for f in found if f not in STR_REASONS]


# faces' calls that show their first argument as an error (a message there renders in the caller's language)
REASON_CARRIERS = {"BadRequest", "NotFound", "usage_error", "error_response", "UsageError", "FleetUsageError"}


@pytest.mark.parametrize("path", [m for m in MODULES if m not in ALLOWED_MODULES])
def test_no_caught_message_is_quoted_as_plain_text(path):
    assert str_reasons((ROOT / path).read_text(), path) == []


def test_the_quoting_scan_sees_str_of_a_caught_exception():
    source = ('try:\n    f()\nexcept JournalUnavailable as exc:\n    note = msg("error: {reason}", reason=str(exc))\n'
              'except ValueError as exc:\n    note = msg("error: {reason}", reason=reason_of(exc))\n')
    assert str_reasons(source, "x.py") == [("x.py", "JournalUnavailable", "error: {reason}")]
    passed_on = 'try:\n    f()\nexcept ReportError as exc:\n    raise BadRequest(str(exc)) from None\n'
    assert str_reasons(passed_on, "x.py") == [("x.py", "ReportError", "BadRequest(str(exc))")]


def test_report_input_errors_passed_on_keep_their_french(tmp_path):
    from types import SimpleNamespace

    from checks.report.control_evidence import check_period
    from checks.report.model import ReportError
    from checks.report.site import cli_site

    class Usage(Exception):
        pass
    fr = translator("fr")
    with pytest.raises(Usage) as site:
        cli_site(SimpleNamespace(month="2026-12", site=str(tmp_path / "s"), months=999), io.StringIO(), None, Usage,
                 Settings.from_env({}))
    assert fr.message(site.value.args[0]) == "months doit être un entier entre 1 et 36, reçu 999"
    with pytest.raises(ReportError) as framework:
        check_period("nope")
    assert fr.message(framework.value.args[0]).startswith("le référentiel doit être l'un de iso27001")


def test_an_unknown_target_name_reads_in_french():
    from checks.engine.fleet import FleetTarget, select_targets
    with pytest.raises(KeyError) as unknown:
        select_targets((FleetTarget("prod"), FleetTarget("staging")), ["nope"])
    assert translator("fr").message(unknown.value.args[0]) == "cible inconnue : nope ; cibles connues : prod, staging"
    assert unknown.value.args[0] == "unknown target nope; known targets: prod, staging"  # English unchanged


def test_http_errors_that_pass_a_reason_on_speak_the_callers_language(env_patch, base_env):
    import azure.functions as func

    from checks import http_api, http_report
    env_patch(base_env)

    def get(handler, url, **params):
        answer = handler(func.HttpRequest("GET", url, body=b"", params=params))
        return answer.status_code, json.loads(answer.get_body())
    code, body = get(http_report.journal_month, "/api/journal", month="2026-13", lang="fr")
    assert code == 400 and body["error"].startswith("mois attendu au format AAAA-MM") and body["error_id"]
    code, english = get(http_report.journal_month, "/api/journal", month="2026-13")
    assert english["error"].startswith("month must be YYYY-MM")
    post = func.HttpRequest("POST", "/api/verify", headers={"content-type": "application/json"},
                            body=json.dumps({"checks": ["database.conectivity"]}).encode(), params={"lang": "fr"})
    unknown = json.loads(http_api.verify(post).get_body())
    assert unknown["error"].startswith("identifiant ou motif de contrôle inconnu : database.conectivity")


def test_the_canarys_steps_and_restore_read_as_french_words():
    from checks.engine.i18n import from_fact
    from checks.families.canary import STEPS, CanaryFacts, evaluate_canary
    fr = translator("fr")
    failed = evaluate_canary(CanaryFacts("acct", "canary", "c.bin", reached=STEPS[:4], listed_as_deleted=False),
                             Settings.from_env({}))
    assert fr.message(failed.summary).startswith("échec de l'aller-retour du canari à l'étape « listé comme supprimé » : ")
    assert failed.details["failed_step"] == "listed as deleted"  # the journal keeps the token
    passed = evaluate_canary(CanaryFacts("acct", "canary", "c.bin", reached=STEPS, restored_by="copy of previous version",
                                         overwritten_version="v1", versions_listed=2, previous_version_listed=True,
                                         listed_as_deleted=True, copy_status="success", sha256="ab", expected_sha256="ab",
                                         final_delete=True, cleaned=("a", "b")), Settings.from_env({}))
    french = fr.message(passed.summary)
    assert "restauré par copie de la version précédente" in french and "previous" not in french
    assert french.endswith(" ; 2 canaris laissés par des exécutions précédentes supprimés")
    old = {"id": "; cleaned {count} canary(ies) left by earlier runs", "params": {"count": 1}}  # journaled before
    assert fr.render(from_fact(old)) == " ; 1 canari laissé par une exécution précédente supprimé"
    with language("fr"):
        from checks.report.pages import detail_rows
        rows = {key: value for key, value, _ in detail_rows(failed.details)}
    assert rows["failed_step"] == "listé comme supprimé"
