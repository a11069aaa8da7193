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
                     "checks/drill/rpo.py", "checks/drill_face.py"]
TRANSLATING_CALLS = {"_", "msg", "N_", "message", "gettext", "ngettext"}  # what a text may go through
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
    assert passed.summary == ("restored t to 2026-11-01T05:50:00Z (RTO 34.5 min); 1 database checks pass, "
                              "1 table(s) ≤ production, Alembic abc")  # English unchanged
    assert fr.message(passed.summary) == ("t restauré à 2026-11-01T05:50:00Z (RTO 34,5 min) ; 1 contrôles de base de "
                                          "données réussis, 1 table(s) ≤ production, Alembic abc")
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
    assert "2026-11-26T06:00:00Z refusé : refusé : le serveur" in french
    assert "already exists" not in french


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
        "l'exercice a dépassé RESTORE_DRILL_MAX_HOURS (6 h) à l'état provisioning")
