"""Counted texts: gettext plural forms in both languages ("1 day" / "2 days", "0 jour" / "2 jours"),
kept through the journal's language-neutral form, and for facts journaled before plural forms."""
from __future__ import annotations

import copy
import json
import pickle
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from checks.engine.config import Settings
from checks.engine.i18n import from_fact, language, msgn, placeholders, translator, tr_n
from checks.engine.i18n_renamed import RENAMED
from checks.engine.runner import message_facts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devtools import i18n as catalog_tools  # noqa: E402

UTC = timezone.utc
DAYS = ("{container}: {name} ({age} day old)", "{container}: {name} ({age} days old)", "age")


def _days(age):
    return msgn(*DAYS, container="ordonnances", name="a.pdf", age=age)


@pytest.mark.parametrize("age, english, french", [
    (0, "0 days old", "il y a 0 jour"), (1, "1 day old", "il y a 1 jour"), (2, "2 days old", "il y a 2 jours"),
    (1.5, "1.5 days old", "il y a 1,5 jour"),  # a fraction: CLDR through Babel (French 'one' below 2)
    (30, "30 days old", "il y a 30 jours"),
])
def test_each_language_picks_its_own_plural_form(age, english, french):
    m = _days(age)
    assert m.endswith(f"({english})")  # the English text itself (what the raw table shows)
    assert translator("en").render(m) == str(m)
    assert translator("fr").render(m) == f"ordonnances : a.pdf (modifié {french})"


def test_a_counted_message_keeps_both_forms_through_the_journal_form():
    m = _days(1)
    fact = json.loads(json.dumps(message_facts(summary=m)))["summary"]
    assert fact == {"id": DAYS[0], "plural": DAYS[1], "count": "age",
                    "params": {"container": "ordonnances", "name": "a.pdf", "age": 1}}
    assert translator("fr").message("stored text", fact) == "ordonnances : a.pdf (modifié il y a 1 jour)"
    assert str(from_fact(fact)) == "ordonnances: a.pdf (1 day old)"
    for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert clone.as_fact() == m.as_fact() and clone.plural == DAYS[1]


def test_a_count_inside_another_message_renders_in_its_own_form():
    from checks.engine.i18n import msg
    outer = msg("{check_id} was skipped: {reason}", check_id="blob.recent_file", reason=_days(1))
    fact = json.loads(json.dumps(outer.as_fact()))
    assert translator("fr").message("", fact) == "blob.recent_file a été ignoré : ordonnances : a.pdf (modifié il y a 1 jour)"


def test_a_fact_journaled_before_plural_forms_renders_with_the_right_form():
    old = {"id": "{container}: {name} ({age} days old)", "params": {"container": "c", "name": "n", "age": 1}}
    assert translator("fr").message("c: n (1 days old)", old) == "c : n (modifié il y a 1 jour)"
    assert translator("en").message("c: n (1 days old)", old) == "c: n (1 day old)"
    assert translator("fr").message("x", dict(old, params={"container": "c", "name": "n", "age": 3})) == \
        "c : n (modifié il y a 3 jours)"


def test_every_renamed_id_points_at_a_live_counted_message():
    live = {m.id for m in catalog_tools.extract() if isinstance(m.id, tuple)}
    for old, (singular, plural, count) in RENAMED.items():
        assert (singular, plural) in live, old
        assert placeholders(old) == placeholders(singular) == placeholders(plural) and count in placeholders(old)


# Texts with a count in front of a noun that need no plural form, and why
COUNTED_ALLOWED = {
    "--since/--until span {count} months; at most {limit}": "only shown above the limit (>= 2); 'mois' is invariable",
    "{flags} override one target's server: use them with one --target NAME, not with {count} targets":
        "only shown with several targets",
    "Acknowledged {check_id} in run {run_id} by {by} at {at}; the next run compares with these counts: {counts}":
        "'in run' names a run, no count",
    "{field} field: range {span} runs backwards": "'runs' is the verb",
    "restore drill {drill_id} of target {target} is already active ({state}); one drill runs at a time per "
    "target: wait for it to finish or see `python -m checks drill status`": "'of target' names a target, no count",
    "deviation {id} cannot be closed: {check_id} still fails for {target} (newest result {status} in run {run_id}); "
    "fix it and run the check again": "'in run' names a run, no count",
    "unknown region {region} holds backups of server {server}: cannot prove it is in the EEA":
        "'holds backups' is a verb and its object, no count",
    "{check_id} {status} for {target} in run {run_id}: {summary}": "'in run' names a run, no count",
    "a second result of {check_id} in run {run_id}": "'in run' names a run, no count",
    "no result of {check_id} in run {run_id} in the journal": "'in run' names a run, no count",
    "nothing to acknowledge: {check_id} in run {run_id} is {status}": "'in run' names a run, no count",
    "nothing to acknowledge: {check_id} in run {run_id} is {status} and has no counts": "'in run' names a run, no count",
    "the PostgreSQL server {server} of target {target}": "'of target' names a target, no count",
    "the storage account {account} of target {target}": "'of target' names a target, no count",
}
COUNTED_NOUN = re.compile(r"(\{\w+\}|%\(\w+\)s) (\w+ )?(days?|blobs?|rows?|runs?|targets?|backups?|versions?|checks?|"
                          r"drills?|files?|tables?|operations?|actions?|sign-offs?|months?|errors?)\b|(?<!http)\(s\)")


def test_no_counted_noun_is_left_without_plural_forms():
    singular_only = [m.id for m in catalog_tools.extract() if isinstance(m.id, str) and COUNTED_NOUN.search(m.id)
                     and not m.id.startswith(("unknown field(s)", "unknown target(s)"))]  # lists, not counts
    assert sorted(set(singular_only) - set(COUNTED_ALLOWED)) == []


def test_face_text_and_report_counts_in_french(azurite, journal_table_name):
    from checks.engine.model import CheckResult, Run, Severity, Status
    from checks.journal.store import Journal
    from checks.report.checklist import month_report
    from checks.report.render import render

    with language("fr"):
        assert tr_n("{count} target ({source})", "{count} targets ({source})", "count", count=1, source="TARGETS") \
            == "1 cible (TARGETS)"
    journal = Journal.from_settings(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string,
                                                       "JOURNAL_TABLE": journal_table_name}))
    started = datetime(2026, 11, 3, 6, tzinfo=UTC)
    run = Run(run_id="20261103T060000Z-abc123", trigger="timer", started_at=started,
              finished_at=started + timedelta(seconds=5))
    run.results.append(CheckResult("blob.soft_delete", "t", Status.PASS, Severity.HIGH, "ok", {}, "", started, 10))
    journal.write_run(run)
    report = month_report(journal, "2026-11")
    fr_md, fr_html, en_md = (render(report, "md", lang="fr"), render(report, "html", lang="fr"),
                             render(report, "md", lang="en"))
    assert "1 exécution enregistrée ce mois-ci." in fr_md and "1 exécution enregistrée ce mois-ci." in fr_html
    assert "1 run recorded this month." in en_md and "run(s)" not in en_md
    assert "(s)" not in fr_md.replace("exécution(s) de", "")
    assert "2 cases cochées sur 5." in fr_md and "2 of 5 boxes ticked." in en_md
