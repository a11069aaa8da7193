"""The "all copies in the EEA" line (HDS EXI 28) of each target, in the monthly report and the fleet
view, in English and French: from the copies the residency checks journaled (journal in Azurite)."""
from __future__ import annotations

import json

import pytest

from checks.drill import residency as dr
from checks.engine.config import Settings
from checks.engine.model import Outcome, Status
from checks.families import residency as fr
from checks.families.postgres_protection import ProtectionFacts, evaluate_backup_residency
from checks.journal.store import Journal
from checks.report.fleet import fleet_overview
from checks.report.protections import Protection
from checks.report.render import render
from checks.report.residency import ALL_IN_EEA, NO_EVIDENCE, NOT_PROVEN, OUTSIDE, month_residency
from test_report import FULL, assert_balanced_html, at
from test_report_fleet import TARGETS, run_of

SETTINGS = Settings.from_env({})
MONTH = "2026-10"


def pg(location: str, geo: str = "Enabled") -> Outcome:
    return evaluate_backup_residency(ProtectionFacts("medicapp-db", "Ready", location, geo, None, None, None, None,
                                                     False), SETTINGS)


def account(location: str, secondary: str | None, sku: str = "Standard_GRS") -> Outcome:
    return fr.evaluate_storage_residency(fr.StorageResidencyFacts("medicappdocs", location, sku, secondary), SETTINGS)


def row(check_id: str, out: Outcome) -> tuple:
    return (check_id, out.status, out.summary, out.details)


@pytest.fixture
def env(base_env):
    return dict(base_env, TARGETS=json.dumps(TARGETS))


@pytest.fixture
def settings(env):
    return Settings.from_env(env)


@pytest.fixture
def journal(settings):
    """prod: every copy in France; preprod: the storage account replicates to East US."""
    journal = Journal.from_settings(settings)
    journal.write_run(run_of(settings, "prod", "20261001T060000Z-r00001", at(1), FULL + [
        row("postgres.backup_residency", pg("francecentral")),
        row("storage.replication_residency", account("France Central", "francesouth")),
        row("postgres.restore_residency", dr.evaluate_restore_residency(
            dr.RestoreResidencyFacts("medicapp-db", "francecentral", None, ()), SETTINGS)),
        ("postgres.ltr_residency", Status.SKIPPED, fr.LTR_SKIPPED, {})]))
    journal.write_run(run_of(settings, "preprod", "20261002T060000Z-r00002", at(2), FULL + [
        row("postgres.backup_residency", pg("westeurope")),
        row("storage.replication_residency", account("eastus", "westus"))]))
    return journal


def test_month_report_says_all_copies_in_the_eea_in_both_languages(journal, settings):
    from checks.report.fleet import target_report
    report = target_report(journal, MONTH, settings, target="prod", now=at(28))
    assert report.residency.verdict == ALL_IN_EEA and report.residency.copies == 5
    md = render(report, "md", lang="en")
    assert ("**Copies in the EEA (HDS EXI 28):** all 5 copies in the EEA: France Central (francecentral), "
            "France South (francesouth)") in md
    fr_md = render(report, "md", lang="fr")
    assert "**Copies dans l'EEE (HDS EXI 28) :** les 5 copies sont dans l'EEE : France Central (francecentral), " \
           "France South (francesouth)" in fr_md
    html = render(report, "html", lang="fr")
    assert "<strong>Copies dans l'EEE (HDS EXI 28) :</strong> les 5 copies sont dans l&#39;EEE" in html
    assert_balanced_html(html)
    assert json.loads(render(report, "json"))["residency"]["verdict"] == ALL_IN_EEA


def test_fleet_view_lists_the_copy_outside_with_its_region(journal, settings):
    fleet = fleet_overview(journal, MONTH, settings, now=at(28))
    rows = {r["target"]: r for r in fleet.to_dict()["rows"]}
    assert rows["preprod"]["residency"]["verdict"] == OUTSIDE
    assert rows["preprod"]["residency"]["outside"] == [
        {"copy": "primary", "of": "medicappdocs", "region": "eastus"},
        {"copy": "secondary", "of": "medicappdocs", "region": "westus"}]
    assert rows["prod"]["residency"]["verdict"] == ALL_IN_EEA
    assert rows["staging"]["residency"]["verdict"] == NO_EVIDENCE  # no run: never "all in the EEA"
    md = render(fleet, "md", lang="en")
    assert ("preprod — Copies in the EEA (HDS EXI 28): 2 copies OUTSIDE the EEA: storage account medicappdocs in "
            "East US (eastus); secondary copy of storage account medicappdocs in West US (westus)") in md
    fr_md = render(fleet, "md", lang="fr")
    assert "2 copies HORS de l'EEE : compte de stockage medicappdocs dans East US (eastus)" in fr_md
    html = render(fleet, "html", lang="en")
    assert "Copies in the EEA (HDS EXI 28): 2 copies OUTSIDE the EEA" in html
    assert_balanced_html(html)


def protection(check_id: str, status: str, run_id: str | None = "r1") -> Protection:
    return Protection(check_id, check_id, status, "", run_id, None)


def results_of(**by_check: Outcome) -> dict:
    from datetime import datetime, timezone
    from checks.engine.model import CheckResult, Severity
    now = datetime(2026, 10, 1, tzinfo=timezone.utc)
    return {"r1": {cid.replace("__", "."): CheckResult(cid.replace("__", "."), cid, out.status, Severity.HIGH,
                                                       out.summary, out.details, "", now, 1)
                   for cid, out in by_check.items()}}


def test_unknown_region_nonpaired_geo_or_error_is_not_proven():
    results = results_of(storage__replication_residency=account("atlantis", None, "Standard_LRS"),
                         postgres__backup_residency=pg("denmarkeast"))
    line = month_residency([protection("storage.replication_residency", "fail"),
                            protection("postgres.backup_residency", "warn"),
                            protection("postgres.restore_residency", "error"),
                            protection("postgres.ltr_residency", "no evidence", None)], results)
    assert line.verdict == NOT_PROVEN
    assert "storage account medicappdocs in atlantis" in line.line
    assert "geo-backup of server medicapp-db in a region that cannot be told" in line.line
    assert "no usable result from postgres.restore_residency" in line.line
    assert "no usable result from postgres.ltr_residency" in line.line
