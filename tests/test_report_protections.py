"""The monthly report and the overview list the protection checks of issue 17 (journal in Azurite)."""
from __future__ import annotations

import json

import pytest

from checks.engine.config import Settings
from checks.engine.model import Status
from checks.engine.registry import all_checks
from checks.journal.store import Journal
from checks.report.checklist import month_report, overview
from checks.report.protections import PROTECTION_CHECKS
from checks.report.render import render
from test_report import FULL, assert_balanced_html, at, make_run

P, W, F, S = Status.PASS, Status.WARN, Status.FAIL, Status.SKIPPED


@pytest.fixture
def journal(base_env):
    return Journal.from_settings(Settings.from_env(base_env))


def test_every_protection_check_exists_in_the_catalogue():
    ids = [cid for cid, _ in PROTECTION_CHECKS]
    assert len(ids) == 13 and set(ids) <= set(all_checks())


def test_month_lists_newest_state_of_each_protection(journal):
    early = make_run("20261001T060000Z-p00001", at(1), FULL + [
        ("blob.lifecycle", F, "rule r1 deletes versions after 7 days", {}),
        ("postgres.encryption", P, "keys Valid", {})])
    late = make_run("20261015T060000Z-p00002", at(15), [
        ("blob.lifecycle", P, "no lifecycle policy", {}),
        ("postgres.long_term_retention", S, "LTR_REQUIRED is false: long-term retention not checked", {}),
        ("storage.immutability", P, "info: no immutable (WORM) storage <script>", {})])
    drill = make_run("20261020T080000Z-p00003", at(20), [("postgres.encryption", F, "restored copy", {})],
                     trigger="drill")
    for run in (early, late, drill):
        journal.write_run(run)
    report = month_report(journal, "2026-10", now=at(28))
    by_id = {p.check_id: p for p in report.protections}
    assert [p.check_id for p in report.protections] == [cid for cid, _ in PROTECTION_CHECKS]
    assert (by_id["blob.lifecycle"].status, by_id["blob.lifecycle"].run_id) == ("pass", late.run_id)
    assert by_id["postgres.encryption"].status == "pass"  # the drill run looks at the restored copy: ignored
    assert by_id["postgres.long_term_retention"].status == "skipped"
    assert by_id["blob.change_feed"].status == "no evidence"
    assert report.complete  # protections are not boxes: 5 of 5 still ticked

    md = render(report, "md")
    assert "## Protections" in md
    assert "| Lifecycle rules keep the retention window | `blob.lifecycle` | pass | no lifecycle policy (run " in md
    html = render(report, "html")
    assert "<h2>Protections</h2>" in html and "&lt;script&gt;" in html and "<script>" not in html
    assert_balanced_html(html)
    data = json.loads(render(report, "json"))
    assert {p["check_id"]: p["status"] for p in data["protections"]}["blob.lifecycle"] == "pass"


def test_overview_counts_protection_states(journal):
    journal.write_run(make_run("20261001T060000Z-p00004", at(1), FULL + [
        ("blob.container_soft_delete", P, "on", {}), ("storage.key_access", W, "Shared Key allowed", {})]))
    ov = overview(journal, "2026-10", 2, now=at(28))
    rows = {m["month"]: m for m in ov.to_dict()["months"]}
    assert rows["2026-10"]["protections"]["storage.key_access"] == "warn"
    assert rows["2026-10"]["protections_summary"] == "1 pass, 1 warn, 11 no evidence"
    assert rows["2026-09"]["protections_summary"] == "13 no evidence"
    assert "| 1 pass, 1 warn, 11 no evidence |" in render(ov, "md")
    assert_balanced_html(render(ov, "html"))
