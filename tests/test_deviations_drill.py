"""A restore drill is tracked like the other checks (issue 30 item 1): a failed drill opens a deviation of
`drill.restore` for the drilled target, kept with the drill's run as first seen; a drill run's database
checks (they read the restored copy) never open or close one. ARM is the canned transport of test_drill."""
from __future__ import annotations

from datetime import timedelta

from azure_fakes import Canned, arm_error_body
from checks.drill import restore_drill as drill_mod
from checks.drill.state import FAILED
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.engine.target import Target
from checks.journal.deviation_log import after_drill
from checks.journal.deviations import deviation_id, read_deviations
from test_drill import Arm, Clock, T0, env, make  # noqa: F401 (env is a fixture)


def test_a_failed_drill_opens_a_deviation_of_the_drill_for_its_target(env):  # noqa: F811
    arm = Arm(target_get=[Arm.not_found])
    arm.t.routes[2].responses = [Canned(409, arm_error_body("ServerNameAlreadyExists", "name in use"))]
    ctx, journal = make(env, arm, Clock(T0))
    drill = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert drill.state == FAILED
    [dev] = read_deviations(journal)
    assert (dev.id, dev.check_id, dev.first_run_id, dev.first_status) == \
        (deviation_id(ctx.settings.target_name, "drill.restore", 1), "drill.restore", drill.drill_id, "fail")


def test_a_passing_drill_closes_it_and_other_results_of_a_drill_run_count_for_nothing(env):  # noqa: F811
    _, journal = make(env, Arm(), Clock(T0))
    settings = make(env, Arm(), Clock(T0))[0].settings
    target = Target.from_settings(settings)

    def drill_run(status, at, check="drill.restore"):
        run = Run(run_id=f"{at:%Y%m%dT%H%M%SZ}-d{int(at.timestamp()) % 99999:05d}", trigger="drill",
                  started_at=at, target=target)
        run.results.append(CheckResult(check, "t", status, Severity.HIGH, "s", {}, "", at, 1))
        assert after_drill(journal, run, settings) == []
        journal.write_run(run)
        return run

    drill_run(Status.FAIL, T0, check="database.essential_counts")  # the restored copy's counts: not production's
    assert read_deviations(journal) == []
    drill_run(Status.FAIL, T0 + timedelta(hours=1))
    passing = drill_run(Status.PASS, T0 + timedelta(days=1))
    [dev] = read_deviations(journal)
    assert not dev.is_open and dev.evidence_run_id == passing.run_id
