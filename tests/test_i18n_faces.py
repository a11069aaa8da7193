"""French output of the drill, the incident restore and the CLI; no user-visible string of these
modules bypasses the catalog (read from the source with `ast`, as tests/test_i18n.py does for the
check families)."""
from __future__ import annotations

import ast
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from checks.engine.config import Settings
from checks.engine.i18n import language, translator

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
S = Settings.from_env({})

# --- no bare English in these modules ---------------------------------------------------------------

CONVERTED_MODULES = ["checks/drill/restore_drill.py", "checks/drill/verify.py", "checks/drill/state.py",
                     "checks/drill/rpo.py", "checks/drill_face.py",
                     "checks/restore/postgres.py", "checks/restore/blobs.py", "checks/restore/blob_ranges.py",
                     "checks/restore/timepoint.py", "checks/restore/record.py", "checks/restore_cli.py",
                     "checks/restore_text.py", "checks/cli.py", "checks/cli_text.py"]
TRANSLATING_CALLS = {"_", "msg", "N_", "message", "gettext", "ngettext", "msgn", "_n", "tr_n"}  # what a text may go through
ERRORS = {"CheckError", "DrillGuardError", "NotConfigured", "UsageError", "CanaryGuardError"}
SINK_ATTRIBUTES = {"summary", "cleanup", "error"}  # texts a record keeps and a person reads
SINK_LISTS = {"lines", "reasons", "problems", "warnings"}
WORD = re.compile(r"[A-Za-z]{2,}")


def _words(node: ast.AST) -> bool:
    """A string literal (or f-string) with an English word in its own text, outside any translating call."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in TRANSLATING_CALLS:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and WORD.search(str(v.value)) for v in node.values) or \
            any(_words(v.value) for v in node.values if isinstance(v, ast.FormattedValue))
    if isinstance(node, (ast.Compare, ast.Dict, ast.Subscript)):  # a test, data (details), a lookup: not shown
        return False
    if isinstance(node, ast.Call):  # "x".join(...), "...".format(): the texts joined; another call computes its text
        joined = getattr(node.func, "attr", None) in ("join", "format")
        return joined and (any(_words(a) for a in node.args) or _words(node.func.value))
    return any(_words(child) for child in ast.iter_child_nodes(node)
               if not isinstance(child, (ast.expr_context, ast.keyword)))


def _sinks(tree: ast.AST) -> list[ast.AST]:
    """Expressions that end up in front of a person: written out, printed, raised, recorded."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            owner = getattr(getattr(node.func, "value", None), "id", None) or \
                getattr(getattr(node.func, "value", None), "attr", None)
            if name in ("print", "write", "event") or name in ERRORS or \
                    (name in ("append", "extend") and owner in SINK_LISTS) or \
                    (name in ("passed", "warn", "fail", "error", "skipped") and owner == "Outcome") or name == "Outcome":
                found += [a for a in node.args if not (name == "print" and isinstance(a, ast.Name))]
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "attr", None) in SINK_ATTRIBUTES or getattr(t, "id", None) in SINK_LISTS
                   for t in targets):
                found.append(node.value)
    return found


def bare_texts(source: str) -> list[int]:
    tree = ast.parse(source)
    return sorted({sink.lineno for sink in _sinks(tree) if _words(sink)})


@pytest.mark.parametrize("path", CONVERTED_MODULES)
def test_no_user_visible_text_bypasses_the_catalog(path):
    assert bare_texts((ROOT / path).read_text()) == []


def test_the_extraction_check_sees_bare_texts():
    source = ('out.write(f"Run {x}")\nprint("error: bad", file=e)\nraise CheckError(f"no {x}")\n'
              'drill.cleanup = "deleted"\nlines = [f"  {e}", "ok"]\nreasons.append(f"--x {y} bad")\n'
              'out.write(_("Run {x}", x=1))\nout.write(f"  {tr(e)}\\n")\ndrill.event(now, msg("done"))\n')
    assert bare_texts(source) == [1, 2, 3, 4, 5, 6]


# --- the drill in French ----------------------------------------------------------------------------

def _facts(**kw):
    from checks.drill.verify import DrillFacts
    base = dict(target_server="t", restored_checks={"database.connectivity": ("pass", "connected")},
                restored_counts={"p": 1200}, production_counts={"p": 1250}, restored_revision="abc",
                production_revision="abc", rto_minutes=34.5, restore_point="2026-11-01T05:50:00Z")
    return DrillFacts(**{**base, **kw})


def test_drill_outcomes_render_in_french():
    from checks.drill.verify import evaluate_drill
    fr = translator("fr")
    passed = evaluate_drill(_facts(), S)
    assert passed.summary == ("restored t to 2026-11-01T05:50:00Z (RTO 34.5 min); 1 database check passes, "
                              "1 table ≤ production, Alembic abc")  # one check, one table: singular in both languages
    assert fr.message(passed.summary) == ("t restauré à 1 nov. 2026 05:50 UTC (RTO 34,5 min) ; 1 contrôle de base de "
                                          "données réussi, 1 table ≤ production, Alembic abc")
    failed = evaluate_drill(_facts(restored_counts={"p": 1300}, restored_revision="old"), S)
    text = fr.message(failed.summary)
    assert text.startswith("l'exercice de restauration vers t a échoué à la vérification : révision Alembic old")
    assert "p 1\u202f300>1\u202f250" in text and "restored" not in text
    warned = evaluate_drill(_facts(restored_counts={"p": 1000}), S)
    assert "écart supérieur à 5 % par rapport à la production : p 1\u202f000/1\u202f250 (-20 %)" in fr.message(warned.summary)


def test_a_stored_drill_renders_in_french_from_its_entity():
    from checks.drill.restore_drill import NO_SERVER, _stop
    from checks.drill.state import FAILED, Drill
    from checks.drill_face import describe
    from checks.engine.i18n import msg
    now = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    drill = Drill(drill_id="20261126T060000Z-abc123", state=FAILED, trigger="cli", source_server="prod",
                  resource_group="rg-drill", target_server="prod-drill-20261126", requested_at="2026-11-26T06:00:00Z",
                  restore_point="", restore_point_mode="", expires_at="2026-11-26T12:00:00Z")
    reason = msg("refused: server {target} already exists in {group}; a restore never overwrites a server",
                 target="prod-drill-20261126", group="rg-drill")
    _stop(drill, "guard", reason, msg("drill not started: {reason}", reason=reason), S)
    drill.cleanup = NO_SERVER
    drill.event(now, msg("refused: {reason}", reason=reason))
    entity = json.loads(json.dumps(drill.to_entity()))  # what the table keeps
    assert entity["Summary"].startswith("drill not started: refused: server prod-drill-20261126 already exists")
    back = Drill.from_entity(entity)
    english = describe(back)
    with language("fr"):
        french = describe(back)
    assert "drill not started: refused" in english and "cleanup: not needed (no server was created)" in english
    assert "exercice non démarré : refusé : le serveur prod-drill-20261126 existe déjà dans rg-drill" in french
    assert "nettoyage : inutile (aucun serveur n'a été créé)" in french
    assert "26 nov. 2026 06:00 UTC refusé : refusé : le serveur" in french
    assert "already exists" not in french
    from checks.report.pages import drill_page
    with language("fr"):
        page = drill_page(back)
    assert "<td>refusé : refusé : le serveur prod-drill-20261126 existe déjà dans rg-drill" in page  # state history
    assert "inutile (aucun serveur n" in page and "exercice non démarré : refusé" in page
    assert "already exists" not in page


def test_an_old_drill_entity_without_facts_renders_as_stored():
    from checks.drill.state import Drill
    from checks.drill_face import describe
    entity = {"RowKey": "d1", "DrillId": "d1", "State": "failed", "Trigger": "cli", "SourceServer": "p",
              "ResourceGroup": "g", "TargetServer": "t", "RequestedAt": "2026-11-01T00:00:00Z", "RestorePoint": "",
              "RestorePointMode": "", "ExpiresAt": "", "Summary": "an older summary",
              "Events": json.dumps(["2026-11-01T00:00:00Z an older event"])}
    with language("fr"):
        text = describe(Drill.from_entity(entity))
    assert "an older summary" in text and "2026-11-01T00:00:00Z an older event" in text and "Exercice d1" in text


def test_drill_journal_run_keeps_the_summary_fact():
    from checks.drill.restore_drill import drill_run
    from checks.drill.state import FAILED, Drill
    from checks.engine.i18n import msg
    now = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    drill = Drill(drill_id="20261126T060000Z-abc123", state=FAILED, trigger="cli", source_server="prod",
                  resource_group="rg", target_server="t", requested_at="2026-11-26T05:00:00Z", restore_point="",
                  restore_point_mode="", expires_at="", stopped_by="overdue",
                  error=msg("drill exceeded RESTORE_DRILL_MAX_HOURS ({hours} h) while {state}", hours=6,
                            state="provisioning"))
    result = drill_run(drill, now, S).results[0]
    assert result.summary == "drill exceeded RESTORE_DRILL_MAX_HOURS (6 h) while provisioning"
    fact = result.messages["summary"]
    assert translator("fr").message(result.summary, json.loads(json.dumps(fact))) == (
        "l'exercice a dépassé RESTORE_DRILL_MAX_HOURS (6 h) à l'état « création en cours »")


# --- the CLI in French --------------------------------------------------------------------------------------

def _cli(args, env):
    import io

    from checks.cli import main
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


def test_cli_run_and_journal_in_french_and_unchanged_in_english(base_env, demo_db_url, capsys):
    env = dict(base_env, DATABASE_URL=demo_db_url, PG_SERVER_NAME="medicapp-db")
    checks = ["--check", "database.connectivity", "--check", "postgres.backup_recent", "--check", "blob.soft_delete"]
    code, french = _cli(["--lang", "fr", "run", *checks], env)
    assert code == 0, french
    assert french.startswith("Exécution ") and "(cli)" in french
    assert "Bilan : RÉUSSI — 1 réussi, 2 ignorés ; journal : écrit" in french
    assert "AZURE_SUBSCRIPTION_ID et PG_RESOURCE_GROUP non définis" in french  # missing variables, from their message
    assert "Overall" not in french and " not set" not in french
    code, english = _cli(["run", *checks], env)
    assert "Overall: PASS — 1 pass, 2 skipped; journal: written" in english
    assert "AZURE_SUBSCRIPTION_ID and PG_RESOURCE_GROUP not set" in english
    month = datetime.now(UTC).strftime("%Y-%m")
    code, listing = _cli(["journal", "--month", month], dict(env, LANGUAGE="fr"))
    assert f"Exécutions en {month} (les plus récentes d'abord)" in listing
    assert "3 contrôles — réussis : 1, avertissements : 0, échecs : 0, erreurs : 0, ignorés : 2" in listing
    started = translator("fr").date(datetime.now(UTC))
    assert started.split(",")[0] in listing  # the day the French way (26 nov. 2026)
    code, listing = _cli(["journal", "--month", month], env)
    assert f"Runs in {month} (newest first)" in listing and "3 checks: 1 pass, 0 warn" in listing


def test_cli_attention_summary_in_french(base_env):
    env = dict(base_env, DATABASE_URL="postgresql://nobody:pw@127.0.0.1:9/none", DB_CONNECT_TIMEOUT_SECONDS="2")
    code, french = _cli(["--lang", "fr", "run", "--check", "database.connectivity", "--no-journal"], env)
    assert code == 1 and "\nÀ traiter :\n  ERREUR database.connectivity : " in french
    assert "Bilan : ERREUR — 1 erreur ; journal : désactivé" in french


def test_cli_errors_in_french(base_env, capsys):
    assert _cli(["--lang", "fr", "run", "--check", "nope"], base_env)[0] == 2
    assert "erreur : identifiant ou motif de contrôle inconnu : nope ; contrôles connus : " in capsys.readouterr().err
    assert _cli(["run"], dict(base_env, CHECK_TIMEOUT_SECONDS="x", LANGUAGE="fr"))[0] == 2
    err = capsys.readouterr().err
    assert err == "erreur : configuration invalide :\n  CHECK_TIMEOUT_SECONDS : nombre entre 1 et 600 attendu (chiffres " \
        "ASCII), reçu 'x'\n"  # the expected form in French too
    assert _cli(["--lang", "fr", "journal", "--since", "2026-13-01"], base_env)[0] == 2
    assert "date AAAA-MM-JJ attendue, reçu '2026-13-01'" in capsys.readouterr().err  # argparse's own error line
    assert _cli(["--lang", "fr", "journal", "--since", "2026-11-02", "--until", "2026-11-01"], base_env)[0] == 2
    assert "erreur : --since 2 nov. 2026 est après --until 1 nov. 2026" in capsys.readouterr().err
    assert _cli(["journal", "--month", "2026-11", "--since", "2026-11-01"], base_env)[0] == 2
    assert "error: --month cannot be combined with --since/--until" in capsys.readouterr().err


def test_cli_list_marks_writing_checks_in_french():
    code, french = _cli(["--lang", "fr", "list"], {})
    assert "(écrit : pas avec --dry-run)" in french
    assert "(écrit ; à la demande : python -m checks drill start|status)" in french
    assert "(writes" not in french


# --- the incident restore's texts in French ---------------------------------------------------------

def test_blob_plan_and_incident_record_render_in_french():
    from checks.restore.blobs import BlobCandidate, BlobPlan
    from checks.restore.record import Incident
    from checks.restore_text import describe, describe_blob_plan
    from checks.engine.i18n import msg
    plan = BlobPlan(account="acct", container="docs", prefix="2026/", listed=1234,
                    candidates=[BlobCandidate("2026/a.pdf", "undelete", msg("soft-deleted at {when}",
                                                                             when="2026-11-26T03:00:00Z"), size=2048)])
    with language("fr"):
        text = describe_blob_plan(plan)
    assert "Plan (VALIDE) : restaurer des blobs dans acct/docs sous '2026/'" in text
    assert "1 blob à restaurer, 2\u202f048 octets ; nombre listé : 1\u202f234" in text
    assert "(supprimé de façon réversible le 26 nov. 2026 03:00 UTC)" in text
    incident = Incident(incident_id="i1", kind="blobs", state="done", by="Astreinte", requested_at="2026-11-26T04:00:00Z")
    incident.summary = msg("{restored} of {total} blob(s) restored ({verified} hash-verified, {differs} differing), "
                           "{failed} failed, {pending} copy pending", restored=1, total=1, verified=1, differs=0,
                           failed=0, pending=0)
    incident.verification = {"results": [{"name": "2026/a.pdf", "result": "restored", "hash": "verified (MD5 matches)"}]}
    incident.event(datetime(2026, 11, 26, 4, tzinfo=UTC), msg("verification {status}", status="pass"))
    back = Incident.from_entity(json.loads(json.dumps(incident.to_entity())))
    with language("fr"):
        text = describe(back)
    assert "Incident i1 (blobs) : TERMINÉ, demandé par Astreinte le 26 nov. 2026 04:00 UTC" in text
    # a record journaled before plural forms (old id "... blob(s) ...") renders in the counted form
    assert "1 sur 1 blob restauré (vérifiés par empreinte : 1, différents : 0)" in text
    assert "2026/a.pdf : restauré, vérifié (le MD5 correspond)" in text
    assert "26 nov. 2026 04:00 UTC vérification : réussi" in text
    assert "1 of 1 blob restored" in describe(back)  # English from the same record


def test_cli_help_in_french(capsys):
    assert _cli(["--lang", "fr", "restore", "postgres", "--help"], {})[0] == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "point de restauration : latest, ou heure ISO avec fuseau" in text
    assert "qui demande la restauration (obligatoire avec --apply)" in text
    assert _cli(["drill", "--help"], {"LANGUAGE": "fr"})[0] == 0
    assert "faire avancer l'exercice actif" in " ".join(capsys.readouterr().out.split())
    assert _cli(["--help"], {})[0] == 0
    assert "run the checks and record them in the journal" in " ".join(capsys.readouterr().out.split())


def test_missing_variables_render_in_french():
    from checks.engine.model import NotConfigured
    with pytest.raises(NotConfigured) as err:
        S.require(("blob_account_url", "blob_connection_string"), "blob_containers", "azure_subscription_id")
    reason = err.value.args[0]
    assert reason == "BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING), BLOB_CONTAINERS and AZURE_SUBSCRIPTION_ID not set"
    assert translator("fr").message(reason) == (
        "BLOB_ACCOUNT_URL (ou BLOB_CONNECTION_STRING), BLOB_CONTAINERS et AZURE_SUBSCRIPTION_ID non définis")


def test_a_re_judged_drill_quotes_the_restored_checks_in_french():
    from checks.drill.restore_drill import drill_run
    from checks.drill.state import FAILED, Drill
    from checks.drill.verify import evaluate_drill
    from checks.engine.i18n import msg
    failing = msg("cannot connect to {target}: {reason}", target="db", reason="timeout")
    outcome = evaluate_drill(_facts(restored_checks={"database.connectivity": ("error", failing)}), S)
    drill = Drill(drill_id="20261126T060000Z-abc123", state=FAILED, trigger="cli", source_server="prod",
                  resource_group="rg", target_server="t", requested_at="2026-11-26T05:00:00Z",
                  restore_point="2026-11-01T05:50:00Z", restore_point_mode="latest", expires_at="",
                  ready_at="2026-11-26T05:30:00Z", outcome="fail", summary=outcome.summary,
                  verification=dict(outcome.details["verification"]))
    back = Drill.from_entity(json.loads(json.dumps(drill.to_entity())))  # a later invocation reads the state
    result = drill_run(back, datetime(2026, 11, 26, 6, tzinfo=UTC), S).results[0]
    text = translator("fr").message(result.summary, json.loads(json.dumps(result.messages["summary"])))
    assert "sur le serveur restauré : database.connectivity erreur (" in text
    assert "cannot connect" not in text, text
