"""Two restore drill starts at once (issue 15): the journal's conditional writes let one win;
the other is refused (DrillActive, HTTP 409) before any ARM call."""
from __future__ import annotations

import threading

import pytest

from checks.drill import restore_drill as drill_mod
from checks.drill import slot
from checks.drill.state import PROVISIONING, SUCCEEDED, DrillActive
from checks.journal.store import Journal
from test_drill import T0, Arm, Clock, env, make  # noqa: F401 (env is a fixture)


def start_both(env, monkeypatch):
    """Start two drills in two threads, both reading the slot before either writes (the worst interleaving)."""
    arms = [Arm(create_status=["InProgress"]), Arm(create_status=["InProgress"])]
    contexts = [make(env, arm, Clock(T0)) for arm in arms]
    barrier, local = threading.Barrier(2), threading.local()
    original = Journal.get_entity

    def read_then_wait(self, partition_key, row_key):
        found = original(self, partition_key, row_key)
        if partition_key == slot.SLOT_PARTITION and not getattr(local, "waited", False):
            local.waited = True
            barrier.wait(timeout=20)  # both have read the slot; now both try to write it
        return found

    monkeypatch.setattr(Journal, "get_entity", read_then_wait)
    outcomes: list = [None, None]

    def start(i):
        ctx, journal = contexts[i]
        try:
            outcomes[i] = drill_mod.start_drill(ctx, journal, trigger="http")
        except DrillActive as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    puts = sum(1 for arm in arms for r in arm.t.requests if r.method == "PUT")
    return outcomes, puts, contexts[0][1]


def assert_one_winner(outcomes, puts):
    winners = [o for o in outcomes if not isinstance(o, DrillActive)]
    losers = [o for o in outcomes if isinstance(o, DrillActive)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert winners[0].state == PROVISIONING
    assert puts == 1  # the loser never reached Azure


def test_two_concurrent_first_starts_one_wins_by_conditional_insert(env, monkeypatch):
    outcomes, puts, journal = start_both(env, monkeypatch)
    assert_one_winner(outcomes, puts)
    assert [d.drill_id for d in drill_mod.load_drills(journal)] == \
        [o.drill_id for o in outcomes if not isinstance(o, DrillActive)]


def test_two_concurrent_starts_after_a_finished_drill_one_wins_by_etag(env, monkeypatch):
    ctx, journal = make(env, Arm(create_status=["InProgress"]), Clock(T0))
    earlier = drill_mod.start_drill(ctx, journal, trigger="cli")
    earlier.state = SUCCEEDED  # finished: its slot may be taken over
    journal.upsert(earlier.to_entity())
    outcomes, puts, _ = start_both(env, monkeypatch)
    assert_one_winner(outcomes, puts)


def test_a_start_that_fails_before_saving_frees_the_slot(env):
    from checks.engine.model import CheckError
    arm = Arm()
    arm.t.routes[0].responses = [Arm.not_found]  # the source server cannot be found: start raises
    ctx, journal = make(env, arm, Clock(T0))
    with pytest.raises(CheckError):
        drill_mod.start_drill(ctx, journal, trigger="cli")
    assert journal.get_entity(slot.SLOT_PARTITION, slot.SLOT_ROW)[0]["DrillId"] == ""  # free again
    ctx, journal = make(env, Arm(create_status=["InProgress"]), Clock(T0))
    assert drill_mod.start_drill(ctx, journal, trigger="cli").state == PROVISIONING
