"""Ctrl-C and SIGTERM (issue 29 item 3): one line, exit 130/143, no traceback; a run records what finished.

The slow check is real: the test holds an ACCESS EXCLUSIVE lock on the counted table, so
database.essential_counts waits on PostgreSQL while database.connectivity finishes.
"""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from checks.cli import COMMANDS, main
from checks.engine import stop
from checks.engine.model import Status
from checks.journal.spool import Spool
from checks.report.checklist import build_month
from checks.service import load_settings, open_journal, record

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ["--check", "database.connectivity", "--check", "database.essential_counts"]


@pytest.fixture
def run_env(base_env, demo_db_url, private_state_home, tmp_path):
    return {**base_env, "DATABASE_URL": demo_db_url, "ESSENTIAL_TABLES": "public.consultations>=1",
            "CHECK_TIMEOUT_SECONDS": "120", "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path), "XDG_STATE_HOME": str(private_state_home)}


@pytest.fixture
def locked_table(pg_cluster):
    """consultations locked: counting it waits until the test lets go."""
    conn = psycopg.connect(pg_cluster.admin_url("medicapp"))
    conn.execute("LOCK TABLE consultations IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        conn.rollback()
        conn.close()


def _start_run(env, cwd, *extra):
    """`python -m checks -v run ...`, returned once database.connectivity has finished (its log line)."""
    proc = subprocess.Popen([sys.executable, "-m", "checks", "run", "-v", *CHECKS, *extra], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        found = re.search(r"run (\S+) check database\.connectivity: pass", line)
        if found:
            return proc, found.group(1), seen
    proc.kill()
    raise AssertionError("".join(seen))


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_run_records_what_finished(run_env, locked_table, tmp_path, signum, code):
    proc, run_id, _ = _start_run(run_env, tmp_path)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert f"interrupted: 1 of 2 checks finished; recorded as run {run_id} (interrupted)" in err
    assert out == ""
    run = open_journal(load_settings(run_env)).get_run(run_id)
    results = {r.check_id: r for r in run.results}
    assert results["database.connectivity"].status is Status.PASS  # what finished is kept
    unfinished = results["database.essential_counts"]
    assert unfinished.status is Status.ERROR and unfinished.details["interrupted"] is True
    assert signal.Signals(signum).name in unfinished.summary
    assert any("after 1 of 2 checks finished" in note for note in run.notes)


def test_next_run_after_an_interrupted_one_claims_no_logs(run_env, pg_cluster, tmp_path):
    with psycopg.connect(pg_cluster.admin_url("medicapp")) as conn:
        conn.execute("LOCK TABLE consultations IN ACCESS EXCLUSIVE MODE")
        proc, first, _ = _start_run(run_env, tmp_path)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        conn.rollback()
    assert proc.returncode == 130
    after = subprocess.run([sys.executable, "-m", "checks", "run", "--json", *CHECKS], cwd=tmp_path, env=run_env,
                           capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    notes = " ".join(__import__("json").loads(after.stdout)["notes"])
    assert "in the logs" not in notes and first not in notes  # the previous run is in the journal


def test_next_run_after_a_killed_one_says_what_is_true(run_env, locked_table, tmp_path):
    proc, first, _ = _start_run(run_env, tmp_path)
    proc.kill()  # SIGKILL: nothing can be recorded
    proc.wait(timeout=30)
    _expire_run_lease(run_env)  # as RUN_LEASE_SECONDS would, without waiting for it
    env = dict(run_env, ESSENTIAL_TABLES="")  # the table is still locked: count nothing this time
    code, out = _main(["run", "--check", "database.connectivity"], env)
    assert f"the previous run {first} never reached the journal: it was stopped (killed or crashed)" in out
    assert "in the logs" not in out


def _expire_run_lease(env):
    from azure.storage.blob import BlobLeaseClient, BlobServiceClient
    from checks.journal.lease import LOCK_CONTAINER, lease_target

    service = BlobServiceClient.from_connection_string(env["AzureWebJobsStorage"])
    blob = service.get_blob_client(LOCK_CONTAINER, lease_target(load_settings(env)))
    BlobLeaseClient(blob).break_lease(lease_break_period=0)


def _main(argv, env):
    out = io.StringIO()
    code = main(argv, out=out, env=env)
    return code, out.getvalue()


def test_second_ctrl_c_while_journaling_keeps_the_run_in_the_spool(run_env):
    from datetime import datetime, timezone
    from checks.engine.model import CheckResult, Run, Severity

    settings = load_settings(run_env)
    now = datetime.now(timezone.utc)
    run = Run(run_id=now.strftime("%Y%m%dT%H%M%SZ") + "-abcdef", trigger="cli", started_at=now, finished_at=now)
    run.results.append(CheckResult("database.connectivity", "t", Status.PASS, Severity.HIGH, "ok", {}, "", now, 1))

    class CutJournal:
        def write_run(self, run):
            raise KeyboardInterrupt  # the second Ctrl-C, while the journal is being written

    try:
        record(run, CutJournal(), Spool(settings.spool_dir))  # no KeyboardInterrupt escapes
        assert stop.requested()
    finally:
        stop.reset()
    assert run.journal_status.startswith("error: interrupted while writing the journal")
    journal = open_journal(settings)
    Spool(settings.spool_dir).replay(journal)  # the next run writes it
    assert journal.get_run(run.run_id) is not None


COMMAND_ARGV = {"ack": ["ack", "--run", "r", "--check", "c", "--by", "b", "--reason", "x"],
                "signoff": ["signoff", "--month", "2026-11", "--by", "b"], "drill": ["drill", "status"],
                "restore": ["restore", "status"], "journal": ["journal", "verify"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_in_any_command_is_one_line_and_130(command, monkeypatch, capsys):
    def interrupted(args, out, env):
        raise KeyboardInterrupt

    monkeypatch.setitem(COMMANDS, command, interrupted)
    code = main(COMMAND_ARGV.get(command, [command]) + ["--lang", "fr"], out=io.StringIO(), env={})
    err = capsys.readouterr().err
    assert code == 130, err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("interrompu")


def test_interrupted_run_ticks_no_box(run_env):
    from datetime import datetime, timezone
    from checks.engine.model import CheckResult, Run, Severity
    from checks.journal.store import check_entity, run_entity

    now = datetime(2026, 11, 5, tzinfo=timezone.utc)
    run = Run(run_id="20261105T000000Z-abcdef", trigger="cli", started_at=now, finished_at=now)
    passed = CheckResult("postgres.backup_recent", "t", Status.PASS, Severity.HIGH, "ok", {}, "", now, 1)
    cut = CheckResult("blob.soft_delete", "t", Status.ERROR, Severity.HIGH, "interrupted (SIGINT) before it finished",
                      {"interrupted": True, "signal": "SIGINT"}, "", now, 1)  # as checks/engine/runner.py marks it
    run.results += [passed, cut]
    month = build_month("2026-11", [run_entity(run)] + [check_entity(run, r) for r in run.results])
    assert month.ticked == 0, [(b.key, b.state) for b in month.boxes]
    assert any("interrupted before every check finished" in n and run.run_id in n for n in month.notes)


def test_ctrl_c_during_a_fleet_run_records_each_target(run_env, locked_table, tmp_path):
    env = dict(run_env, TARGETS=__import__("json").dumps([{"name": "site-a"}, {"name": "site-b"}]))
    proc = subprocess.Popen([sys.executable, "-m", "checks", "run", "--all-targets", "-v", *CHECKS], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_ids = []
    for line in proc.stderr:
        found = re.search(r"run (\S+) check database\.connectivity: pass", line)
        run_ids += [found.group(1)] if found else []
        if len(run_ids) == 2:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted (SIGINT): each target's run recorded what finished" in err
    journal = open_journal(load_settings(run_env))
    for run_id in run_ids:
        statuses = {r.check_id: (r.status, r.details.get("interrupted")) for r in journal.get_run(run_id).results}
        assert statuses == {"database.connectivity": (Status.PASS, None),
                            "database.essential_counts": (Status.ERROR, True)}
