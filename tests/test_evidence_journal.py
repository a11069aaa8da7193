"""Evidence that cannot be lost (issue 15): bounded journal entities, 4xx is not an outage,
quarantine of unwritable spool files, one spool per deployment."""
import json
import logging
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError

from checks import service
from checks.engine.config import Settings
from checks.engine.model import CheckResult, CheckSpec, Outcome, Run, Severity, Status
from checks.journal import bounds
from checks.journal.spool import QUARANTINE, Spool
from checks.journal.store import Journal
from checks.service import RunRequest, verify
from test_database_pg import scratch_db  # noqa: F401 (fixture)

LONG_PATH = "documents/" + "a" * 40_000 + ".pdf"


def spec(cid, fn):
    return CheckSpec(id=cid, title=cid, severity=Severity.HIGH, remediation="r", risk="r", run=fn)


@pytest.fixture
def only(monkeypatch):
    def use(*specs):
        monkeypatch.setattr(service, "select", lambda patterns, read_only_only=False: list(specs))
    return use


def old_run(run_id, check_id="t.old", started=None):
    started = started or datetime(2026, 11, 2, 6, tzinfo=timezone.utc)
    run = Run(run_id=run_id, trigger="timer", started_at=started, finished_at=started + timedelta(seconds=1))
    run.results.append(CheckResult(check_id, "Old", Status.PASS, Severity.HIGH, "fine", {}, "", started, 5))
    return run


def long_path_check(_ctx):
    return Outcome.passed(f"newest signed document's file {LONG_PATH} exists and its sha256 matches",
                          blob_path=LONG_PATH)


def test_azure_refuses_an_unbounded_property(base_env):
    """The fault as reported: a 40,000-character value in one property is a 400 from Table Storage."""
    table = Journal.from_settings(Settings.from_env(base_env))
    table.ensure_table()
    with pytest.raises(HttpResponseError) as info:
        table.table_client.upsert_entity({"PartitionKey": "p", "RowKey": "r", "Summary": LONG_PATH})
    assert info.value.status_code == 400


def test_a_40000_character_blob_path_is_cut_and_the_run_written(base_env, only, caplog):
    only(spec("database.signed_document", long_path_check))
    settings = Settings.from_env(base_env)
    journal = Journal.from_settings(settings)
    caplog.set_level(logging.WARNING, logger="checks.journal.bounds")
    run = verify(RunRequest(trigger="cli"), settings, journal)
    assert run.journal_status == "written"
    back = journal.get_run(run.run_id).results[0]
    assert "…[cut: " in back.summary and "the full text is in the logs" in back.summary
    assert bounds.utf16_units(back.summary) <= bounds.LIMITS["Summary"]
    assert LONG_PATH in caplog.text  # the logs keep what the journal cannot
    assert Spool(Path(base_env["VERIFIER_SPOOL_DIR"])).pending() == []  # nothing spooled


def test_astral_characters_count_twice():
    text = "𝄞" * 20_000  # 40,000 UTF-16 units although len() is 20,000
    short = bounds.cut(text, 30_000)
    assert bounds.utf16_units(short) <= 30_000 and "cut: 20000 characters" in short


def test_batches_respect_operation_count_and_size():
    ops = [("upsert", {"PartitionKey": "p", "RowKey": str(i), "Details": "x" * 30_000}) for i in range(250)]
    chunks = bounds.batches(ops)
    assert [op for chunk in chunks for op in chunk] == ops  # order kept, nothing dropped
    assert all(len(c) <= 100 and sum(bounds.entity_bytes(e) for _, e in c) <= bounds.MAX_BATCH_BYTES
               for c in chunks)
    assert len(chunks) >= 5  # 250 × 60 KB: about 50 per batch, not 100


def test_a_4xx_is_not_an_outage_the_run_is_rewritten_reduced(base_env, only, monkeypatch):
    monkeypatch.setitem(bounds.LIMITS, "Summary", 60_000)  # bounds that miss: Azure answers 400
    only(spec("database.signed_document", long_path_check))
    settings = Settings.from_env(base_env)
    journal = Journal.from_settings(settings)
    run = verify(RunRequest(trigger="cli"), settings, journal)
    assert run.journal_status.startswith("written in reduced form")
    back = journal.get_run(run.run_id)
    assert back.results[0].status is Status.PASS and back.results[0].details["reduced"] is True
    assert any("reduced form written" in n for n in back.notes)
    assert Spool(Path(base_env["VERIFIER_SPOOL_DIR"])).pending() == []


def own_file_gone_bad(spool, name, body):
    """A file the verifier wrote and signed whose run it cannot read back (e.g. from another version)."""
    import os
    from checks.journal import spoolfs
    folder = os.open(spool.own, os.O_RDONLY)
    try:
        spoolfs.write_own_file(folder, name, spoolfs.seal(spoolfs.key(folder, create=False), name, body))
    finally:
        os.close(folder)


def test_unwritable_spool_file_is_quarantined_and_replay_goes_on(base_env, only):
    settings = Settings.from_env(base_env)
    spool = Spool(settings.spool_dir)
    bad = old_run("20261102T060000Z-aaaaaa", check_id="t.bad#id")  # '#' in a RowKey: always a 400
    good = old_run("20261103T060000Z-bbbbbb", started=datetime(2026, 11, 3, 6, tzinfo=timezone.utc))
    spool.save(bad)
    spool.save(good)
    own_file_gone_bad(spool, "20261101T000000Z-cccccc.json", "{not json")  # signed, but not a run
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    journal = Journal.from_settings(settings)
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert run.journal_status == "written"
    assert journal.get_run(good.run_id) is not None  # replay went on past the bad files
    quarantined = sorted(p.name for p in (spool.own / QUARANTINE).iterdir())
    assert quarantined == ["20261101T000000Z-cccccc.json", f"{bad.run_id}.json"]
    assert spool.pending() == []
    notes = journal.get_run(run.run_id).notes  # the note is journaled with the current run
    assert any(bad.run_id in n and "refused" in n and "replay went on" in n for n in notes)
    assert any("20261101T000000Z-cccccc" in n and "unreadable" in n for n in notes)
    again = verify(RunRequest(trigger="timer"), settings, journal)
    assert not any("spooled run" in n for n in again.notes)  # quarantined once, not retried forever


# --- item 2: one spool per deployment ---------------------------------------------------------------

def test_default_spool_is_per_deployment_under_the_user_state_dir(private_state_home):
    a = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "JOURNAL_TABLE": "BackupJournal"})
    b = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "JOURNAL_TABLE": "OtherJournal"})
    c = Settings.from_env({"JOURNAL_ACCOUNT_URL": "https://prodjournal.table.core.windows.net",
                           "JOURNAL_TABLE": "BackupJournal"})
    dirs = {a.spool_dir, b.spool_dir, c.spool_dir}
    assert len(dirs) == 3
    assert all(d.is_relative_to(private_state_home / "medicapp-verifier" / "spool") for d in dirs)
    assert "prodjournal-BackupJournal" in c.spool_dir.name
    assert not any(d.is_relative_to(tempfile.gettempdir()) and "medicapp-verifier-spool" in str(d) for d in dirs)
    explicit = Settings.from_env({"VERIFIER_SPOOL_DIR": "/var/lib/verifier/spool"})
    assert explicit.spool_dir == Path("/var/lib/verifier/spool")


def test_another_deployment_never_replays_or_deletes_a_users_pending_run(base_env, only):
    user = Settings.from_env({"JOURNAL_ACCOUNT_URL": "https://prodjournal.table.core.windows.net",
                              "JOURNAL_TABLE": "BackupJournal"})
    pending = old_run("20261104T060000Z-dddddd")
    Spool(user.spool_dir).save(pending)
    test_env = {k: v for k, v in base_env.items() if k != "VERIFIER_SPOOL_DIR"}  # default spool, own journal
    settings = Settings.from_env(test_env)
    journal = Journal.from_settings(settings)
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    run = verify(RunRequest(trigger="cli"), settings, journal)
    assert run.journal_status == "written" and journal.get_run(pending.run_id) is None
    assert (Spool(user.spool_dir).own / f"{pending.run_id}.json").exists()


def test_the_demo_and_the_tests_use_their_own_spool(pg_cluster, azurite, base_env):
    from devtools.demo import demo_env
    first, second = demo_env(pg_cluster, azurite), demo_env(pg_cluster, azurite)
    assert first["VERIFIER_SPOOL_DIR"] != second["VERIFIER_SPOOL_DIR"]
    assert list(Path(first["VERIFIER_SPOOL_DIR"]).iterdir()) == []  # fresh, empty
    assert Settings.from_env(first).spool_dir == Path(first["VERIFIER_SPOOL_DIR"])
    assert Path(base_env["VERIFIER_SPOOL_DIR"]).name == "spool" and "pytest" in base_env["VERIFIER_SPOOL_DIR"]
    for d in (first, second):
        Path(d["VERIFIER_SPOOL_DIR"]).rmdir()


# --- item 10: a run in which nothing ran is recorded but is not evidence ----------------------------

def test_an_all_skipped_run_is_recorded_but_ticks_nothing_and_feeds_no_heartbeat(base_env, only):
    from checks.engine.model import NotConfigured
    from checks.heartbeat import heartbeat
    from checks.report.checklist import month_report

    def unconfigured(_ctx):
        raise NotConfigured("PG_SERVER_NAME not set")

    only(spec("postgres.backup_recent", unconfigured), spec("database.connectivity", unconfigured))
    settings = Settings.from_env(base_env)
    journal = Journal.from_settings(settings)
    run = verify(RunRequest(trigger="timer"), settings, journal)
    assert run.journal_status == "written" and journal.get_run(run.run_id) is not None  # recorded
    assert {r.status for r in run.results} == {Status.SKIPPED} and not run.is_evidence
    report = month_report(journal, run.month)
    assert all(box.state != "ticked" for box in report.boxes)
    journal_box = next(b for b in report.boxes if b.key == "journal")
    assert journal_box.remarks[0] == "1 run recorded, but no check ran in it"  # one run: the singular form
    assert any(run.run_id in n and "not evidence" in n for n in report.notes)
    beat = heartbeat(journal, run.finished_at + timedelta(minutes=1))
    assert beat["state"] == "overdue" and beat["run_id"] is None
    only(spec("t.ok", lambda c: Outcome.passed("ok")))
    real = verify(RunRequest(trigger="timer"), settings, journal)
    assert heartbeat(journal, real.finished_at + timedelta(minutes=1))["run_id"] == real.run_id
    assert next(b for b in month_report(journal, run.month).boxes if b.key == "journal").state == "ticked"


# --- item 3: every run and result records its target; overrides never tick production's boxes ------

PROD = {"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000", "PG_RESOURCE_GROUP": "rg-medicapp",
        "PG_SERVER_NAME": "medicapp-db", "STORAGE_ACCOUNT_NAME": "medicappdocs"}


def test_another_servers_pass_never_ticks_productions_box(base_env, only, env_patch):
    import azure.functions as func
    from checks import http_api
    from checks.engine.target import Target
    from checks.report.checklist import month_report
    from checks.report.render import render
    settings = Settings.from_env(dict(base_env, **PROD))
    journal = Journal.from_settings(settings)

    def backup_recent(ctx):  # production's newest backup is 300 h old; other-db's is fresh
        if ctx.settings.pg_server_name == "medicapp-db":
            return Outcome.fail("newest completed backup is 300.0 h old", age_hours=300.0)
        return Outcome.passed("newest completed backup is 2.0 h old", age_hours=2.0)

    only(spec("postgres.backup_recent", backup_recent))
    prod = verify(RunRequest(trigger="timer"), settings, journal)
    other = verify(RunRequest(trigger="cli", overrides={"pg_server_name": "other-db"}), settings, journal)
    env_patch(dict(base_env, **PROD))
    resp = http_api.verify(func.HttpRequest(method="POST", url="/api/verify", body=b'{"azure_server": "other-db2"}',
                                            headers={"Content-Type": "application/json"}))
    via_http = json.loads(resp.get_body())
    assert via_http["target"]["server"] == "other-db2" and via_http["target"]["override"] is True
    assert other.target.server == "other-db" and other.target.override and not prod.target.override
    assert any("override" in n and "never evidence" in n for n in other.notes)
    rows = journal.partition(prod.month)
    checks = {(r["RunId"], r["TargetServer"], r["TargetOverride"]) for r in rows if r["Kind"] == "check"}
    assert (other.run_id, "other-db", True) in checks and (prod.run_id, "medicapp-db", False) in checks
    assert journal.get_run(other.run_id).target == other.target  # read back
    report = month_report(journal, prod.month, production=Target.from_settings(settings))
    box = report.box("backup")
    assert box.state != "ticked" and box.evidence.run_id == prod.run_id  # the newer other-db pass is ignored
    assert any(other.run_id in n and "other-db" in n and "not evidence" in n for n in report.notes)
    assert "medicapp-db" in report.target and "medicappdocs" in report.target
    line = ("Target: production — PostgreSQL server medicapp-db (resource group rg-medicapp), storage account "
            "medicappdocs, ")  # then the database, then the subscription
    assert line in render(report, "md").replace("\\", "") and line in render(report, "html")
    assert "subscription 00000000-0000-0000-0000-000000000000" in render(report, "html")


def test_a_run_recorded_by_settings_for_another_server_does_not_count(base_env, only):
    from checks.engine.target import Target
    from checks.report.checklist import month_report
    only(spec("postgres.backup_recent", lambda c: Outcome.passed("fresh")))
    elsewhere = Settings.from_env({**base_env, **PROD, "PG_SERVER_NAME": "staging-db"})  # configured, not an override
    journal = Journal.from_settings(elsewhere)
    run = verify(RunRequest(trigger="timer"), elsewhere, journal)
    production = Target.from_settings(Settings.from_env(dict(base_env, **PROD)))
    assert month_report(journal, run.month, production=production).box("backup").state == "no evidence"
    assert month_report(journal, run.month, production=Target.from_settings(elsewhere)).box("backup").state == "ticked"


def test_entities_written_before_targets_still_read_and_count(base_env):
    from checks.engine.target import Target
    from checks.report.checklist import month_report
    journal = Journal.from_settings(Settings.from_env(base_env))
    legacy = old_run("20261105T060000Z-eeeeee", check_id="postgres.backup_recent",
                     started=datetime(2026, 11, 5, 6, tzinfo=timezone.utc))
    journal.write_run(legacy)  # target None: no Target* columns, as before
    assert "TargetOverride" not in journal.partition("2026-11")[0]
    assert journal.get_run(legacy.run_id).target is None
    report = month_report(journal, "2026-11", production=Target.from_settings(Settings.from_env(dict(base_env, **PROD))))
    assert report.box("backup").state == "ticked"


# --- item 4: the count baseline is the last accepted run; a drop stays failing until acknowledged ---

def test_a_data_loss_is_not_resolved_by_running_again_only_by_an_acknowledgement(base_env, pg_cluster, scratch_db):
    import io
    from checks.cli import main
    from checks.report.checklist import month_report
    from checks.report.render import render
    env = dict(base_env, DATABASE_URL=pg_cluster.url("verifier", "verifier-demo-pw", scratch_db),
               ESSENTIAL_TABLES="public.patients>=1")
    settings = Settings.from_env(env)
    journal = Journal.from_settings(settings)
    counts = RunRequest(trigger="cli", checks=["database.essential_counts"])
    first = verify(counts, settings, journal)
    assert first.results[0].status is Status.PASS
    pg_cluster.execute("DELETE FROM consultations WHERE patient_id > 60; DELETE FROM documents WHERE patient_id > 60; "
                       "DELETE FROM patients WHERE id > 60;", scratch_db)
    dropped = verify(counts, settings, journal)
    again = verify(counts, settings, journal)  # before: passed, the failed run's counts were the baseline
    for run in (dropped, again):
        assert run.results[0].status is Status.FAIL
        assert "public.patients dropped from 120 to 60 rows" in run.results[0].summary
    report = month_report(journal, first.month)
    assert [p.resolved_by for p in report.problems if p.check_id == "database.essential_counts"] == [None, None]
    assert report.box("dry_run").state != "ticked"
    out = io.StringIO()
    assert main(["ack", "--run", again.run_id, "--check", "database.essential_counts", "--by", "Dr. A. Example",
                 "--reason", "test patients removed on purpose"], out=out, env=env) == 0
    assert '"public.patients": 60' in out.getvalue()
    after = verify(counts, settings, journal)
    assert after.results[0].status is Status.PASS
    assert "acknowledged by Dr. A. Example" in after.results[0].summary
    text = render(month_report(journal, first.month), "md")
    assert f"Acknowledged: database.essential\\_counts in run {again.run_id} by Dr. A. Example" in text
    assert "test patients removed on purpose" in text
    assert "test patients removed on purpose" in render(month_report(journal, first.month), "html")


def test_acknowledging_a_passed_or_unknown_result_is_refused(base_env, only, capsys):
    from checks.cli import main
    only(spec("database.essential_counts", lambda c: Outcome.passed("fine", counts={"public.patients": 5})))
    settings = Settings.from_env(base_env)
    run = verify(RunRequest(trigger="cli"), settings, Journal.from_settings(settings))
    args = ["ack", "--check", "database.essential_counts", "--by", "X", "--reason", "y"]
    # understood but nothing in the journal to act on: 1 (docs/running.md: as `journal --run` of an unknown run)
    assert main(args[:1] + ["--run", run.run_id] + args[1:], env=base_env) == 1
    assert "nothing to acknowledge" in capsys.readouterr().err
    assert main(args[:1] + ["--run", "20261101T000000Z-000000"] + args[1:], env=base_env) == 1
    assert "no result of database.essential_counts in run 20261101T000000Z-000000" in capsys.readouterr().err
    # what was typed is malformed: a usage error (2)
    assert main(args[:1] + ["--run", run.run_id, "--check", "database.essential_counts", "--by", " ",
                            "--reason", "y"], env=base_env) == 2
    assert main(args[:1] + ["--run", "yesterday"] + args[1:], env=base_env) == 2
    assert "not a run id" in capsys.readouterr().err


def test_unknown_and_malformed_run_ids_exit_alike_in_journal_and_ack(base_env, capsys):
    from checks.cli import main
    ack = ["ack", "--check", "database.essential_counts", "--by", "X", "--reason", "y", "--run"]
    for run_id, code in (("20200101T000000Z-000000", 1), ("not-a-run", 2)):
        assert main(["journal", "--run", run_id], env=base_env) == code
        assert main(ack + [run_id], env=base_env) == code
        errors = capsys.readouterr().err.splitlines()
        assert len(errors) == 2 and all(e.startswith("error: ") and run_id in e for e in errors), errors


# --- issue 27 item 14: which answers of Table Storage are an outage and which a rejection ----------------

@pytest.mark.parametrize("status,outage", [(400, False), (401, True), (403, True), (404, False), (408, True),
                                           (413, False), (429, True), (500, True), (503, True)])
def test_journal_answers_are_classified_as_outage_or_rejection(status, outage):
    """401/403 (a key or role being rotated), 408 and 429 pass: the run is spooled and replayed. Any other
    4xx would fail again with the same entities: JournalRejected, the run is rewritten reduced."""
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.data.tables import TableClient

    from azure_fakes import Canned, CannedTransport
    from checks.engine.model import JournalUnavailable
    from checks.journal.store import JournalRejected
    transport = CannedTransport().add("POST", r"/Tables\?|/Tables$", Canned(409, {"odata.error": {
        "code": "TableAlreadyExists", "message": {"lang": "en-US", "value": "exists"}}}))
    transport.add("GET", r"/Journal\(\)", Canned(200, {"value": []}))  # the table is there (one read finds it)
    transport.add("POST", r"/Journal(\?|$)", Canned(status, {"odata.error": {
        "code": "Refused", "message": {"lang": "en-US", "value": f"answer {status}"}}}))
    client = TableClient(endpoint="https://medicappjournal.table.core.windows.net", table_name="Journal",
                         credential=AzureNamedKeyCredential("medicappjournal", "a2V5"), transport=transport,
                         retry_total=0)
    with pytest.raises(JournalUnavailable) as info:
        Journal(client).insert({"PartitionKey": "2026-11", "RowKey": "r"})
    assert isinstance(info.value, JournalRejected) is (not outage), (status, type(info.value).__name__)
    assert str(info.value).startswith("journal write failed")
