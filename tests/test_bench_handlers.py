"""The fleet bench drives the deployed queue handler with run functions of its own: they must keep the
handler's contract, or `make bench` dies after minutes of set-up (bench/bench_fleet.py broke unseen when
the handler began passing the reservation's caller). Both of its run functions, one timer fan-out each."""
from __future__ import annotations

import sys
from pathlib import Path

from checks.engine.registry import select
from checks.engine.timeutil import this_month
from checks.journal.store import Journal
from test_dispatch import FLEET, fleet_env, host, settings_of  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


def _drain_timer_round(fleet_env, host, make_handler) -> list[dict]:
    from checks import http_api
    settings = settings_of(fleet_env)
    assert http_api.run_timer(past_due=False)["status"] == "enqueued"
    delivered = host.drain(make_handler(settings))
    assert delivered == len(FLEET) and not host.errors, host.errors
    return Journal.from_settings(settings).list_runs(this_month())


def test_the_bench_waiting_run_journals_one_run_per_target_under_the_timer(fleet_env, host):
    import bench_fleet
    runs = _drain_timer_round(fleet_env, host, lambda s: bench_fleet.waiting_handler_for(s, 0.0, ["a.check"]))
    assert sorted(r["target"]["name"] for r in runs) == sorted(t["name"] for t in FLEET)
    assert {r["requested_by"]["name"] for r in runs} == {"timer"}


def test_the_bench_real_run_journals_every_read_only_check_per_target(fleet_env, host, demo_db_url, env_patch):
    import bench_fleet
    env_patch(dict(fleet_env, DATABASE_URL=demo_db_url))
    ids = [s.id for s in select() if s.read_only]
    runs = _drain_timer_round(dict(fleet_env, DATABASE_URL=demo_db_url), host,
                              lambda s: bench_fleet.handler_for(s, 0.0, ids))
    assert sorted(r["target"]["name"] for r in runs) == sorted(t["name"] for t in FLEET)
    assert all(r["trigger"] == "timer" and sum(r["counts"].values()) == len(ids) for r in runs), runs
