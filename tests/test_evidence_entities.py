"""Issue 27 items 11-13: crafted journal entities, site file names, sign-off of nothing.

Entities are written with the azure-data-tables client itself (real Azurite), as anyone who can write
the storage account could: every reader must go on, show the bad entity as "unreadable entity
<RowKey>: why", and never let it tick a box.
"""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import azure.functions as func
import pytest
from azure.data.tables import EdmType, EntityProperty

from checks.cli import main
from checks.engine.config import Settings
from checks.engine.model import Status
from checks.journal.store import Journal, check_entity, run_entity
from test_function_app import FUNCTIONS
from test_report import DB, FULL, at, make_run

MONTH = "2026-10"
RUN_ID = "20261001T060000Z-c0ffee"


def fn(name):
    return FUNCTIONS[name].get_user_function()


def cli(args, env):
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


@pytest.fixture
def journal(base_env):
    j = Journal.from_settings(Settings.from_env(base_env))
    j.ensure_table()
    return j


@pytest.fixture
def http_env(env_patch, base_env):
    env_patch(base_env)
    return base_env


def put(journal, *entities):
    """Straight into the table, past the verifier's own writer."""
    for entity in entities:
        journal.table_client.upsert_entity(entity)


def full_run_entities(run_id=RUN_ID, started=None):
    run = make_run(run_id, started or at(1), FULL)
    return run_entity(run), {r.check_id: check_entity(run, r) for r in run.results}


def pages(name, **params):
    return fn("pages")(func.HttpRequest("GET", f"/api/pages/{name}", route_params={"page": name}, params=params,
                                        body=b""))


def reports_of_every_face(base_env, month=MONTH):
    """The month through the CLI (md, json, html), GET /api/report and GET /api/pages: never a crash."""
    out = {}
    for fmt in ("md", "json", "html"):
        code, text = cli(["report", "--month", month, "--format", fmt], base_env)
        assert code in (0, 1), (fmt, text)
        out[fmt] = text
    answer = fn("report")(func.HttpRequest("GET", "/api/report", params={"month": month}, body=b""))
    assert answer.status_code == 200, answer.get_body()
    answer = pages(f"month-{month}.html")
    assert answer.status_code == 200, answer.get_body()
    out["page"] = answer.get_body().decode()
    return out


NOT_ISO = "yesterday"
YEAR_ONE = "0001-01-01T00:00:00+01:00"
YEAR_ONE_EDM = EntityProperty("0001-01-01T00:00:00.000000Z", EdmType.DATETIME)
AT = datetime(2026, 10, 1, 6, tzinfo=timezone.utc)

# (what is changed in the run summary, the field the note names)
RUN_DAMAGE = [
    ({"StartedAt": NOT_ISO}, "StartedAt"),
    ({"StartedAt": YEAR_ONE}, "StartedAt"),
    ({"StartedAt": YEAR_ONE_EDM}, "StartedAt"),
    ({"StartedAt": 20261001}, "StartedAt"),
    ({"FinishedAt": "9999-12-31T23:59:59-01:00"}, "FinishedAt"),
    ({"Notes": "not json"}, "Notes"),
    ({"Notes": "[" * 20000}, "Notes"),
    ({"Notes": json.dumps({"a": 1})}, "Notes"),
    ({"Passed": "7"}, "Passed"),
    ({"Failed": True}, "Failed"),
    ({"DurationMs": "fast"}, "DurationMs"),
    ({"DurationMs": b"\x00\x01"}, "DurationMs"),
    ({"Status": "great"}, "Status"),
    ({"Status": 1}, "Status"),
    ({"DryRun": "false"}, "DryRun"),
    ({"TargetOverride": "false"}, "TargetOverride"),
    ({"TargetServer": 5}, "TargetServer"),
    ({"Trigger": AT}, "Trigger"),
    ({"RunId": "x/../../escaped-2"}, None),
]


@pytest.mark.parametrize("damage,field", RUN_DAMAGE, ids=[f"{list(d)[0]}-{i}" for i, (d, _) in enumerate(RUN_DAMAGE)])
def test_a_damaged_run_summary_ticks_nothing_and_is_named(base_env, http_env, journal, damage, field):
    summary, checks = full_run_entities()
    put(journal, *checks.values(), dict(summary, **damage))
    out = reports_of_every_face(base_env)
    report = json.loads(out["json"])
    assert report["boxes_ticked"] == 0, report["boxes"]
    note = f"unreadable entity {summary['RowKey']}: "
    assert any(n.startswith(note) for n in report["notes"]), report["notes"]
    if field:
        assert any(field in n for n in report["notes"] if n.startswith(note))
    assert note in out["md"] and note in out["page"]


# (check changed, what is changed in its entity)
CHECK_DAMAGE = [
    ("postgres.backup_recent", {"Details": "[1, 2]"}),
    ("postgres.backup_recent", {"Details": "{not json"}),
    ("postgres.retention", {"Status": "ok"}),
    ("postgres.retention", {"DurationMs": "12"}),
    ("postgres.retention", {"DurationMs": 1.5}),
    ("blob.soft_delete", {"StartedAt": "2026-13-01T00:00:00Z"}),
    ("blob.soft_delete", {"StartedAt": YEAR_ONE}),
    ("blob.soft_delete", {"Summary": b"binary"}),
    ("blob.soft_delete", {"Title": True}),
    ("blob.soft_delete", {"Severity": "extreme"}),
    ("database.signed_document", {"Summary": AT}),
    ("database.signed_document", {"TargetOverride": "no"}),
]
BOX_OF = {"postgres.backup_recent": "backup", "postgres.retention": "retention", "blob.soft_delete": "soft_delete",
          "database.signed_document": "dry_run"}


@pytest.mark.parametrize("check_id,damage", CHECK_DAMAGE)
def test_a_damaged_result_is_an_error_of_its_check_never_a_tick(base_env, http_env, journal, check_id, damage):
    """An older run of the month passed everything: the newest one's damaged result must not let it decide."""
    old_summary, old_checks = full_run_entities("20261001T060000Z-0000aa", at(1))
    summary, checks = full_run_entities("20261002T060000Z-0000bb", at(2))
    checks[check_id] = dict(checks[check_id], **damage)
    put(journal, old_summary, *old_checks.values(), summary, *checks.values())
    out = reports_of_every_face(base_env)
    report = json.loads(out["json"])
    boxes = {b["key"]: b["state"] for b in report["boxes"]}
    assert boxes[BOX_OF[check_id]] == "error" and report["boxes_ticked"] == 4, boxes
    assert any(n.startswith(f"unreadable entity {checks[check_id]['RowKey']}: ") for n in report["notes"])
    assert any(p["check_id"] == check_id and p["status"] == "error" for p in report["problems"])


@pytest.mark.parametrize("damage", [{"CheckId": None}, {"RunId": None}, {"CheckId": "../x"}, {"RunId": 7}])
def test_a_result_that_names_no_check_or_run_is_shown_not_counted(base_env, http_env, journal, damage):
    summary, checks = full_run_entities()
    bad = {k: v for k, v in dict(checks["postgres.retention"], **damage).items() if v is not None}
    bad["RowKey"] = bad["RowKey"] + "-crafted"
    put(journal, summary, *checks.values(), bad)
    report = json.loads(reports_of_every_face(base_env)["json"])
    assert report["boxes_ticked"] == 5  # the genuine results still count; the crafted one ticks nothing
    problems = [p["check_id"] for p in report["problems"]]
    # attributable to its run: an error of that run, listed as a problem; else a note only
    assert problems == ([] if "RunId" in damage else ["journal.unreadable"])
    assert any(n.startswith(f"unreadable entity {bad['RowKey']}: ") for n in report["notes"])


@pytest.mark.parametrize("row_key", ["a..b", "quote' \" here", "<script>alert(1)", "k" * 500])
def test_hostile_row_keys_are_shown_escaped(base_env, http_env, journal, row_key):
    summary, checks = full_run_entities()
    put(journal, summary, *checks.values(), {"PartitionKey": MONTH, "RowKey": row_key, "Kind": "ack",
                                             "AckAt": "soon", "Counts": "nope"})
    out = reports_of_every_face(base_env)
    assert json.loads(out["json"])["boxes_ticked"] == 5
    assert "<script>alert" not in out["page"] and "<script>alert" not in out["html"]
    assert "unreadable entity " + (row_key if len(row_key) < 80 else row_key[:79] + "…") in json.loads(out["json"])["notes"][0]


def test_damaged_acks_and_signoffs_are_notes_never_sign_offs(base_env, http_env, journal):
    summary, checks = full_run_entities()
    put(journal, summary, *checks.values(),
        {"PartitionKey": MONTH, "RowKey": "ack-1", "Kind": "ack", "RunId": RUN_ID, "CheckId": "database.essential_counts",
         "AckBy": "x", "AckAt": YEAR_ONE, "Counts": "{}"},
        {"PartitionKey": MONTH, "RowKey": "signoff-1", "Kind": "signoff", "SignedBy": "Mallory", "SignedAt": "now"},
        {"PartitionKey": MONTH, "RowKey": "signoff-2", "Kind": "signoff", "SignedBy": "Mallory",
         "SignedAt": AT, "RunCount": "5"},
        {"PartitionKey": MONTH, "RowKey": "signoff-3", "Kind": "signoff", "SignedBy": 42, "SignedAt": AT})
    report = json.loads(reports_of_every_face(base_env)["json"])
    assert report["signoffs"] == [] and report["acks"] == []
    assert sorted(n.split(":")[0] for n in report["notes"]) == [
        "unreadable entity ack-1", "unreadable entity signoff-1", "unreadable entity signoff-2",
        "unreadable entity signoff-3"]


def test_a_month_where_every_entity_is_bad_still_renders_and_says_so(base_env, http_env, journal, tmp_path):
    summary, checks = full_run_entities()
    put(journal, dict(summary, StartedAt=NOT_ISO), *(dict(c, Status="?") for c in checks.values()))
    out = reports_of_every_face(base_env)
    report = json.loads(out["json"])
    assert report["boxes_ticked"] == 0 and len(report["notes"]) == 1 + len(checks)
    assert "unreadable entity" in out["page"] and "unreadable entity" in out["md"]
    code, text = cli(["report", "--site", str(tmp_path / "site"), "--month", MONTH, "--months", "1"], base_env)
    assert code == 0, text
    assert "unreadable entity" in (tmp_path / "site" / f"month-{MONTH}.html").read_text()


def test_journal_listing_and_run_readers_go_on_past_a_bad_summary(base_env, http_env, journal, capsys):
    good, good_checks = full_run_entities("20261001T060000Z-00000a", at(1))
    bad, bad_checks = full_run_entities("20261002T060000Z-00000b", at(2))
    put(journal, good, *good_checks.values(), dict(bad, Notes="{"), *bad_checks.values())
    code, text = cli(["journal", "--month", MONTH, "--json"], base_env)
    assert code == 0 and [r["run_id"] for r in json.loads(text)] == ["20261001T060000Z-00000a"]
    answer = fn("journal_month")(func.HttpRequest("GET", "/api/journal", params={"month": MONTH}, body=b""))
    assert answer.status_code == 200 and len(json.loads(answer.get_body())["runs"]) == 1
    code, text = cli(["journal", "--run", "20261002T060000Z-00000b", "--json"], base_env)
    run = json.loads(text)
    assert code == 0 and run["status"] == "error" and "unreadable" in json.dumps(run["notes"])
    answer = pages("run-20261002T060000Z-00000b.html")
    assert answer.status_code == 200 and "unreadable" in answer.get_body().decode()


def test_an_entity_the_sdk_cannot_decode_is_a_clear_journal_error(base_env, http_env, journal, capsys):
    summary, checks = full_run_entities()
    # the SDK writes year 1 as "1-01-01T..." and cannot read it back: the query itself fails
    put(journal, summary, *checks.values(), {"PartitionKey": MONTH, "RowKey": "odd", "Kind": "x",
                                             "When": datetime(1, 1, 1, tzinfo=timezone.utc)})
    code, _ = cli(["report", "--month", MONTH], base_env)
    assert code == 1 and "could not decode an entity" in capsys.readouterr().err
    answer = pages(f"month-{MONTH}.html")
    assert answer.status_code == 503 and "could not decode" in json.loads(answer.get_body())["error"]


def test_bad_drill_entities_get_no_page_and_do_not_stop_the_site(base_env, http_env, journal, tmp_path):
    summary, checks = full_run_entities()
    put(journal, summary, *checks.values(),
        {"PartitionKey": "drill", "RowKey": RUN_ID, "Kind": "drill", "DrillId": RUN_ID, "State": "succeeded",
         "RequestedAt": NOT_ISO, "Verification": "[1]", "Events": "{"},
        {"PartitionKey": "drill", "RowKey": "20261003T060000Z-abcdef", "Kind": "drill",
         "DrillId": "x/../../escaped", "State": "failed"})
    code, text = cli(["report", "--site", str(tmp_path / "site"), "--month", MONTH, "--months", "1"], base_env)
    assert code == 0, text
    assert not list((tmp_path / "site").glob("drill-*"))
    code, text = cli(["drill", "status"], base_env)
    assert code in (0, 1, 2) and "Traceback" not in text


# --- item 12: site file names ------------------------------------------------------------------

@pytest.mark.parametrize("run_id", ["x/../../escaped-2", "20261001T060000Z-aa\x00aaa", "20261001T060000Z-a/b",
                                    "20261001T060000Z-" + "a" * 300, "..", "20261001T060000Z-AAAAAA"])
def test_site_page_names_come_from_valid_run_ids_only(base_env, journal, tmp_path, run_id):
    good, good_checks = full_run_entities("20261001T060000Z-00000a", at(1))
    bad, bad_checks = full_run_entities("20261002T060000Z-00000b", at(2))
    bad_checks = {k: dict(v, RunId=run_id) for k, v in bad_checks.items()}
    put(journal, good, *good_checks.values(), dict(bad, RunId=run_id), *bad_checks.values())
    site = tmp_path / "deep" / "er" / "site"
    (site / "run-x").mkdir(parents=True)  # `run-x/../../escaped-2.html` would resolve outside
    before = {p for p in tmp_path.rglob("*")}
    code, text = cli(["report", "--site", str(site), "--month", MONTH, "--months", "1"], base_env)
    assert code == 0, text
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(site in p.parents for p in created), created
    assert (site / "run-20261001T060000Z-00000a.html").is_file() and (site / "index.html").is_file()
    assert sorted(p.name for p in site.glob("run-*.html")) == ["run-20261001T060000Z-00000a.html"]


def test_site_and_index_page_for_one_month(base_env, http_env, journal, tmp_path):
    summary, checks = full_run_entities()
    put(journal, summary, *checks.values())
    code, text = cli(["report", "--site", str(tmp_path), "--month", MONTH, "--months", "1"], base_env)
    assert code == 0, text
    assert f"month-{MONTH}.html" in (tmp_path / "index.html").read_text()
    answer = pages("index.html", month=MONTH, months="1")
    assert answer.status_code == 200 and f"month-{MONTH}.html" in answer.get_body().decode()


# --- item 13: sign-off of nothing ----------------------------------------------------------------

@pytest.mark.parametrize("month", ["2026-10", "2000-01", "2026-11"])
def test_signoff_of_a_month_without_runs_is_refused(base_env, journal, capsys, month):
    summary, checks = full_run_entities("20260901T060000Z-00000a", at(1, month=9))
    put(journal, dict(summary, PartitionKey="2026-09"), *(dict(c, PartitionKey="2026-09") for c in checks.values()))
    code, _ = cli(["signoff", "--month", month, "--by", "Dr. A"], base_env)
    err = capsys.readouterr().err
    assert code == 2 and "no run of" in err and "--force" in err
    assert [r for r in journal.partition(month) if r.get("Kind") == "signoff"] == []


def test_signoff_of_runs_that_verified_nothing_is_refused(base_env, journal, capsys):
    journal.write_run(make_run("20261001T060000Z-00000a", at(1), [(c, Status.SKIPPED, "not configured", {})
                                                                  for c, *_ in DB]))
    code, _ = cli(["signoff", "--month", MONTH, "--by", "Dr. A"], base_env)
    assert code == 2 and "none of them verified anything" in capsys.readouterr().err


def test_forced_signoff_needs_a_comment_and_is_recorded_and_shown(base_env, journal, capsys):
    assert cli(["signoff", "--month", MONTH, "--by", "Dr. A", "--force"], base_env)[0] == 2
    assert "needs a comment" in capsys.readouterr().err
    code, out = cli(["signoff", "--month", MONTH, "--by", "Dr. A", "--force", "--comment", "server moved; no runs"],
                    base_env)
    assert code == 0, capsys.readouterr().err
    [stored] = [r for r in journal.partition(MONTH) if r.get("Kind") == "signoff"]
    assert stored["Forced"] is True and stored["Comment"] == "server moved; no runs"
    code, text = cli(["report", "--month", MONTH, "--format", "json"], base_env)
    assert json.loads(text)["signoffs"][0]["forced"] is True
    code, text = cli(["report", "--month", MONTH], base_env)
    assert "forced: signed off although no run of the month verified anything" in text
    assert "server moved; no runs" in text


def test_signoff_of_a_month_with_evidence_is_not_marked_forced(base_env, journal):
    summary, checks = full_run_entities()
    put(journal, summary, *checks.values())
    assert cli(["signoff", "--month", MONTH, "--by", "Dr. A", "--force", "--comment", "fine"], base_env)[0] == 0
    [stored] = [r for r in journal.partition(MONTH) if r.get("Kind") == "signoff"]
    assert "Forced" not in stored


def test_force_does_not_open_the_other_refusals(base_env, journal, capsys):
    args = ["--by", "Dr. A", "--force", "--comment", "why"]
    assert cli(["signoff", "--month", "2099-01", *args], base_env)[0] == 2  # a future month
    assert cli(["signoff", "--month", MONTH, "--target", "nowhere", *args], base_env)[0] == 2  # not in the fleet
    assert "nowhere" in capsys.readouterr().err


def test_http_signoff_of_nothing_is_409_unless_forced(http_env, journal):
    def post(body):
        return fn("report_signoff")(func.HttpRequest("POST", f"/api/report/{MONTH}/signoff", body=json.dumps(body).encode(),
                                                     headers={"content-type": "application/json"},
                                                     route_params={"month": MONTH}))
    answer = post({"by": "Dr. A"})
    assert answer.status_code == 409 and "force" in json.loads(answer.get_body())["error"]
    assert post({"by": "Dr. A", "force": True}).status_code == 400  # no comment
    assert post({"by": "Dr. A", "force": "yes", "comment": "x"}).status_code == 400
    answer = post({"by": "Dr. A", "force": True, "comment": "no runs: the server was being moved"})
    assert answer.status_code == 201 and json.loads(answer.get_body())["signoff"]["forced"] is True


@pytest.mark.parametrize("data", ["not json", "[1, 2]", json.dumps({"incident_id": "20261003T060000Z-abcdef",
                                                                     "kind": "postgres", "state": 5, "by": "x",
                                                                     "requested_at": "2026-10-03T06:00:00Z"}),
                                  json.dumps({"incident_id": "20261003T060000Z-abcdef", "kind": "postgres",
                                              "state": "ready", "by": "x", "requested_at": "0001-01-01T00:00:00+01:00"})])
def test_a_damaged_incident_record_is_a_journal_failure_never_a_crash(journal, data):
    from checks.engine.model import JournalUnavailable
    from checks.restore.record import Incident, load, recent

    good = Incident(incident_id="20261002T060000Z-abcdef", kind="postgres", state="ready", by="Dr. A",
                    requested_at="2026-10-02T06:00:00Z")
    put(journal, good.to_entity(), {"PartitionKey": "incident", "RowKey": "20261003T060000Z-abcdef",
                                    "Kind": "incident", "Target": "srv", "Data": data})
    assert [i.incident_id for i in recent(journal)] == ["20261002T060000Z-abcdef"]
    with pytest.raises(JournalUnavailable, match="unreadable entity 20261003T060000Z-abcdef: "):
        load(journal, "20261003T060000Z-abcdef")
    assert load(journal, "20261002T060000Z-abcdef").by == "Dr. A"
