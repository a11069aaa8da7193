"""Tamper-evident journal against Azurite: the month's hash chain (runs, acknowledgements, sign-offs),
its head under concurrent writers, the seals (written once), and `journal verify` naming every
edited, deleted, inserted or reordered entity by RowKey."""
import io
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import UpdateMode

from checks.cli import main
from checks.engine.config import Settings
from checks.journal import seal as seals
from checks.journal.chain import HEAD_ROW, genesis, link, members_of
from checks.journal.integrity import verify_rows
from checks.journal.store import Journal
from test_journal import make_run

MONTH = "2026-11"
T0 = datetime(2026, 11, 3, 6, tzinfo=timezone.utc)
AFTER = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)   # the month is over
DURING = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)  # the month is still going


@pytest.fixture
def env(base_env):
    return dict(base_env, JOURNAL_SEAL_CONTAINER="seals-" + uuid.uuid4().hex[:12])


@pytest.fixture
def settings(env):
    return Settings.from_env(env)


@pytest.fixture
def journal(settings):
    return Journal.from_settings(settings)


@pytest.fixture
def container(settings):
    return seals.container_client(settings)


def write_month(journal, runs=3):
    """`runs` runs, an acknowledgement and a sign-off in MONTH; returns the runs."""
    written = [make_run(f"202611{3 + i:02d}T060000Z-{i:06d}", T0 + timedelta(days=i), n=3) for i in range(runs)]
    for run in written:
        journal.write_run(run)
    assert journal.insert({"PartitionKey": MONTH, "RowKey": "ack-20261110T000000000000Z-x", "Kind": "ack",
                           "RunId": written[0].run_id, "CheckId": "fam.check000", "AckBy": "Dr. A", "AckAt": T0})
    assert journal.insert({"PartitionKey": MONTH, "RowKey": "signoff-20261130T000000000000Z-x", "Kind": "signoff",
                           "SignedBy": "Dr. A", "SignedAt": T0 + timedelta(days=20), "ReportDigest": "d"})
    return written


def rows_of(journal):
    return journal.partition_stamped(MONTH)


def row_key(journal, run, check=None):
    rows = [r for r in journal.partition(MONTH) if r.get("RunId") == run.run_id]
    kind = "check" if check else "run"
    return next(r["RowKey"] for r in rows if r["Kind"] == kind and (check is None or r["CheckId"] == check))


def findings(result):
    return {(f.kind, f.row_key) for f in result.findings}


def entity(journal, key):
    return dict(journal.table_client.get_entity(MONTH, key))


def replace(journal, row):
    journal.table_client.update_entity(row, mode=UpdateMode.REPLACE)


def test_runs_acks_and_signoffs_form_one_intact_chain(journal):
    runs = write_month(journal)
    rows = rows_of(journal)
    result = verify_rows(MONTH, rows)
    assert result.intact and result.links == 5 and result.unchained == [], result.findings
    anchors = sorted((r for r in rows if "ChainHash" in r and r["RowKey"] != HEAD_ROW), key=lambda r: r["ChainSeq"])
    assert [r["Kind"] for r in anchors] == ["run", "run", "run", "ack", "signoff"]
    assert anchors[0]["ChainPrev"] == genesis(MONTH) and anchors[1]["ChainPrev"] == anchors[0]["ChainHash"]
    head = entity(journal, HEAD_ROW)
    assert head["ChainLength"] == 5 and head["ChainHash"] == anchors[-1]["ChainHash"]
    # each run's link lists its results by RowKey; a result entity carries no chain column itself
    assert set(members_of(anchors[0])) == {row_key(journal, runs[0], f"fam.check{i:03d}") for i in range(3)}
    assert not any(k.startswith("Chain") for k in entity(journal, row_key(journal, runs[0], "fam.check000")))


def test_edited_result_run_or_type_is_reported_by_rowkey(journal):
    runs = write_month(journal)
    check_key, run_key = row_key(journal, runs[0], "fam.check001"), row_key(journal, runs[1])
    replace(journal, dict(entity(journal, check_key), Status="fail"))
    replace(journal, dict(entity(journal, run_key), Trigger="timer"))
    typed_key = row_key(journal, runs[2], "fam.check002")
    replace(journal, dict(entity(journal, typed_key), DurationMs=str(entity(journal, typed_key)["DurationMs"])))
    result = verify_rows(MONTH, rows_of(journal))
    assert findings(result) == {("edited", check_key), ("edited", run_key), ("edited", typed_key)}


def test_deleted_result_and_deleted_run_are_reported_by_rowkey(journal):
    runs = write_month(journal)
    check_key, run_key = row_key(journal, runs[0], "fam.check002"), row_key(journal, runs[1])
    journal.table_client.delete_entity(MONTH, check_key)
    journal.table_client.delete_entity(MONTH, run_key)
    result = verify_rows(MONTH, rows_of(journal))
    assert not result.intact
    assert findings(result) == {("deleted", check_key), ("deleted", run_key)}


def test_deleted_newest_link_is_named_by_the_head(journal):
    write_month(journal)
    journal.table_client.delete_entity(MONTH, "signoff-20261130T000000000000Z-x")
    result = verify_rows(MONTH, rows_of(journal))
    assert findings(result) == {("deleted", "signoff-20261130T000000000000Z-x")}


def test_inserted_run_and_inserted_result_are_reported_even_when_backdated(journal):
    runs = write_month(journal)
    fake = {"PartitionKey": MONTH, "RowKey": "9999999999999-20261101T000000Z-fake00", "Kind": "run",
            "RunId": "20261101T000000Z-fake00", "Status": "pass", "StartedAt": datetime(2026, 11, 1, tzinfo=timezone.utc)}
    journal.table_client.create_entity(fake)
    added = dict(entity(journal, row_key(journal, runs[0], "fam.check000")), CheckId="postgres.backup_recent",
                 RowKey=row_key(journal, runs[0]) + "-postgres.backup_recent")
    journal.table_client.create_entity(added)
    result = verify_rows(MONTH, rows_of(journal))
    assert findings(result) == {("inserted", fake["RowKey"]), ("inserted", added["RowKey"])}


def test_reordered_links_are_reported_not_as_edits(journal):
    runs = write_month(journal)
    first, second = entity(journal, row_key(journal, runs[0])), entity(journal, row_key(journal, runs[1]))
    position = ("ChainSeq", "ChainPrev", "ChainPrevRow", "ChainHash")
    replace(journal, dict(first, **{k: second[k] for k in position}))  # run 1 claims run 2's place and back
    replace(journal, dict(second, **{k: first[k] for k in position}))
    result = verify_rows(MONTH, rows_of(journal))
    assert findings(result) == {("reordered", first["RowKey"]), ("reordered", second["RowKey"])}


def test_a_position_number_moved_alone_is_reordered(journal):
    runs = write_month(journal)
    moved = entity(journal, row_key(journal, runs[2]))
    replace(journal, dict(moved, ChainSeq=1))
    assert findings(verify_rows(MONTH, rows_of(journal))) == {("reordered", moved["RowKey"])}


def test_concurrent_writers_of_one_month_never_fork_the_chain(settings):
    workers = [Journal.from_settings(settings) for _ in range(8)]
    errors = []

    def write(k):
        try:
            workers[k % 8].write_run(make_run(f"20261120T06{k:04d}Z-c{k:05d}", DURING + timedelta(seconds=k), n=2))
        except Exception as exc:  # noqa: BLE001 (the test reports any failure of a writer)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify_rows(MONTH, workers[0].partition_stamped(MONTH))
    assert result.intact and result.links == 16, result.findings
    seqs = sorted(r["ChainSeq"] for r in workers[0].partition(MONTH) if r.get("Kind") == "run")
    assert seqs == list(range(1, 17))


def test_a_replayed_run_stays_one_link(journal):
    run = make_run("20261103T060000Z-000000", T0, n=3)
    journal.write_run(run)
    journal.write_run(run)  # the spool's replay or a drill finished twice
    result = verify_rows(MONTH, rows_of(journal))
    assert result.intact and result.links == 1


def test_a_run_larger_than_one_transaction_is_one_link(journal):
    journal.write_run(make_run("20261105T060000Z-bbbbbb", T0, n=130))
    result = verify_rows(MONTH, rows_of(journal))
    assert result.intact and result.links == 1 and result.entities == 131


def test_entities_from_before_the_chain_are_unchained_until_the_chain_begins(journal):
    legacy = {"PartitionKey": MONTH, "RowKey": "9999999999000-20261101T000000Z-old000", "Kind": "run",
              "RunId": "20261101T000000Z-old000", "Status": "pass", "StartedAt": datetime(2026, 11, 1, tzinfo=timezone.utc)}
    journal.ensure_table()
    journal.table_client.create_entity(legacy)
    journal.table_client.create_entity(dict(legacy, RowKey=legacy["RowKey"] + "-fam.x", Kind="check", CheckId="fam.x"))
    write_month(journal, runs=1)
    result = verify_rows(MONTH, rows_of(journal))
    assert result.intact and sorted(result.unchained) == [legacy["RowKey"], legacy["RowKey"] + "-fam.x"]
    late = dict(legacy, RowKey="9999999998000-20261101T000000Z-late00", RunId="20261101T000000Z-late00")
    journal.table_client.create_entity(late)  # no chain columns, written after the chain began
    assert findings(verify_rows(MONTH, rows_of(journal))) == {("inserted", late["RowKey"])}


# --- seals ---------------------------------------------------------------------------------------

def test_seal_is_written_once_and_never_overwritten(journal, container):
    write_month(journal)
    name = seals.seal_month(journal, container, MONTH, "month-end", AFTER)
    assert name == f"seals/{MONTH}/000005.json"
    sealed = container.get_blob_client(name).download_blob().readall()
    body = json.loads(sealed)
    assert body["chain_length"] == 5 and body["entity_count"] == 14 and len(body["export"]) == 14
    assert body["chain_head"] == entity(journal, HEAD_ROW)["ChainHash"] and body["previous_seal"] is None
    assert seals.seal_month(journal, container, MONTH, "signoff", AFTER) == ""  # nothing new to seal
    with pytest.raises(ResourceExistsError):  # If-None-Match: * even where no immutability policy exists
        container.get_blob_client(name).upload_blob(b"{}", overwrite=False)
    # a rewritten table sealed again at the same length leaves the first seal as it was
    replace(journal, dict(entity(journal, "signoff-20261130T000000000000Z-x"), SignedBy="Someone else"))
    assert seals.seal_month(journal, container, MONTH, "cli", AFTER) == name
    assert container.get_blob_client(name).download_blob().readall() == sealed
    # a later link gets its own seal, which names the previous one
    journal.write_run(make_run("20261128T060000Z-later0", T0 + timedelta(days=25), n=1))
    later = seals.seal_month(journal, container, MONTH, "signoff", AFTER)
    assert later == f"seals/{MONTH}/000006.json"
    assert json.loads(container.get_blob_client(later).download_blob().readall())["previous_seal"]["name"] == name


def relink(journal):
    """What someone with the app's write rights could do: recompute every link and the head after an edit."""
    rows = journal.partition(MONTH)
    anchors = sorted((r for r in rows if "ChainHash" in r and r["RowKey"] != HEAD_ROW), key=lambda r: r["ChainSeq"])
    by_key = {r["RowKey"]: r for r in rows}
    head = None
    for anchor in anchors:
        members = [by_key[k] for k in members_of(anchor)]
        bare = {k: v for k, v in anchor.items() if not k.startswith("Chain")}
        chained, head = link(bare, members, head, anchor["ChainedAt"])
        replace(journal, chained)
    replace(journal, head)


def test_verify_reports_a_table_that_disagrees_with_its_seal(journal, container):
    runs = write_month(journal)
    name = seals.seal_month(journal, container, MONTH, "month-end", AFTER)
    check_key = row_key(journal, runs[1], "fam.check000")
    replace(journal, dict(entity(journal, check_key), Status="pass", Summary="all good"))
    relink(journal)
    assert verify_rows(MONTH, rows_of(journal)).intact  # the chain alone was rewritten consistently
    result = seals.verify_month(journal, container, MONTH, AFTER)
    assert ("edited", check_key) in findings(result) and ("seal", name) in findings(result)


def test_a_past_month_without_a_seal_is_reported_the_current_one_is_not(journal, container):
    write_month(journal)
    assert seals.verify_month(journal, container, MONTH, DURING).intact  # still November
    result = seals.verify_month(journal, container, MONTH, AFTER)
    assert findings(result) == {("unsealed", f"seals/{MONTH}/000005.json")}
    seals.seal_month(journal, container, MONTH, "month-end", AFTER)
    assert seals.verify_month(journal, container, MONTH, AFTER).intact
    journal.write_run(make_run("20261129T060000Z-late00", T0 + timedelta(days=26), n=1))  # after the seal
    assert findings(seals.verify_month(journal, container, MONTH, AFTER)) == {("unsealed", f"seals/{MONTH}/000006.json")}


def test_a_deleted_seal_breaks_the_seal_chain(journal, container):
    write_month(journal)
    first = seals.seal_month(journal, container, MONTH, "month-end", AFTER)
    journal.write_run(make_run("20261129T060000Z-late00", T0 + timedelta(days=26), n=1))
    second = seals.seal_month(journal, container, MONTH, "signoff", AFTER)
    container.delete_blob(first)  # Azurite has no immutability policy; Azure refuses this
    assert findings(seals.verify_month(journal, container, MONTH, AFTER)) == {("seal", second)}


def test_timer_seals_the_previous_month_and_a_failure_never_raises(journal, settings, env):
    write_month(journal)
    assert seals.seal_last_month(settings, journal, AFTER) == f"seals/{MONTH}/000005.json"
    broken = Settings.from_env(dict(env, JOURNAL_SEAL_CONTAINER="no-such-account-x",
                                    AzureWebJobsStorage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
                                    "KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"))
    assert seals.seal_quietly(broken, journal, MONTH, "signoff", AFTER) == ""


# --- journal verify (CLI) and the report's line ---------------------------------------------------

def cli(args, env):
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


def test_journal_verify_exit_codes_and_output_in_english_and_french(journal, container, env, capsys):
    runs = write_month(journal)
    assert cli(["journal", "seal", "--month", MONTH], env)[0] == 0
    code, out = cli(["journal", "verify", "--month", MONTH], env)
    assert code == 0 and f"{MONTH}: intact (5 links" in out and f"Journal intact since {MONTH}." in out
    check_key = row_key(journal, runs[0], "fam.check001")
    journal.table_client.delete_entity(MONTH, check_key)
    code, out = cli(["journal", "verify", "--month", MONTH], env)
    assert code == 1 and "BROKEN" in out and f"deleted    {check_key}" in out
    code, out = cli(["--lang", "fr", "journal", "verify", "--month", MONTH], env)
    assert code == 1 and "supprimé" in out and check_key in out
    code, out = cli(["journal", "verify", "--month", MONTH, "--json"], env)
    assert code == 1 and {"kind": "deleted", "row_key": check_key} in [
        {k: f[k] for k in ("kind", "row_key")} for f in json.loads(out)["months"][0]["findings"]]
    assert cli(["journal", "verify", "--month", "2026-13"], env)[0] == 2
    assert cli(["journal", "verify", "--run", "20261103T060000Z-000000"], env)[0] == 2
    assert cli(["journal", "seal"], env)[0] == 2
    assert "--month" in capsys.readouterr().err


def test_month_report_says_intact_since_or_what_broke(journal):
    from checks.report.checklist import month_report
    from checks.report.render import render
    runs = write_month(journal)
    report = month_report(journal, MONTH, AFTER)
    assert report.journal_chain["intact"] and report.journal_chain["links"] == 5
    assert f"Journal intact since {MONTH}" in render(report, "md")
    assert "intact" in render(report, "html", lang="fr") and json.loads(render(report, "json"))["journal_chain"]["intact"]
    check_key = row_key(journal, runs[2], "fam.check000")
    replace(journal, dict(entity(journal, check_key), Status="fail"))
    report = month_report(journal, MONTH, AFTER)
    assert not report.journal_chain["intact"]
    assert f"Journal BROKEN in {MONTH}" in render(report, "md") and check_key in render(report, "md")


def test_signoff_seals_the_month(journal, settings, container):
    from checks.report.fleet import sign_off_target
    write_month(journal)
    sign_off_target(journal, MONTH, "Dr. A. Example", "reviewed", settings, force=True)
    names = [b.name for b in container.list_blobs(name_starts_with=f"seals/{MONTH}/")]
    assert names == [f"seals/{MONTH}/000006.json"]
    assert seals.verify_month(journal, container, MONTH, AFTER).intact


def test_cli_seal_says_it_in_the_readers_language_not_as_a_raw_log_line(journal, container, env, capsys):
    """The seal's log line is WARNING (the audit trail at logLevel=warning); the CLI prints its own sentence
    and keeps the raw English line for -v, as it does with a run's outcome line."""
    write_month(journal)
    code, out = cli(["--lang", "fr", "journal", "seal", "--month", MONTH], env)
    err = capsys.readouterr().err
    assert code == 0 and "checks.journal.seal" not in err and "sealed" not in err and MONTH in out
    journal.insert({"PartitionKey": MONTH, "RowKey": "ack-20261111T000000000000Z-y", "Kind": "ack",
                    "RunId": "20261103T060000Z-000000", "CheckId": "fam.check000", "AckBy": "Dr. B", "AckAt": T0})
    assert cli(["-v", "journal", "seal", "--month", MONTH], env)[0] == 0
    assert "checks.journal.seal: journal 2026-11 sealed" in capsys.readouterr().err
