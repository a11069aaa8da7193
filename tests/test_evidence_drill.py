"""Two restore drill starts at once (issue 15): the journal's conditional writes let one win;
the other is refused (DrillActive, HTTP 409) before any ARM call."""
from __future__ import annotations

import json
import os
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest

from azure_fakes import SESSION_REQUESTS, Canned, CannedTransport, derive
from checks.drill import restore_drill as drill_mod
from checks.drill import schedule, slot
from checks.drill.state import FAILED, PROVISIONING, SUCCEEDED, DrillActive
from checks.journal.store import Journal
from test_drill import (CREATE_HEADERS, DELETE_HEADERS, DRILL_RG, RG, SOURCE, T0, Arm, Clock, env,  # noqa: F401
                        make, server_url, source_body)


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
    assert slot.holder_ids(journal) == []  # free again
    ctx, journal = make(env, Arm(create_status=["InProgress"]), Clock(T0))
    assert drill_mod.start_drill(ctx, journal, trigger="cli").state == PROVISIONING


# --- slot ownership (issue 27, item 5): a start or an advance that lost the slot writes nothing more ---
ANY_SERVER = rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers/([a-z0-9-]+)\?"
A_AT = datetime(2026, 10, 31, 23, 58, tzinfo=timezone.utc)  # A's day name differs from B's (next day)


class SharedArm:
    """ONE ARM for every invocation: a PUT creates the server (tagged as PUT, later GETs find it), a DELETE
    removes it. `pause(thread, method)`: that thread's first such request is answered, then the thread
    hangs until the test lets it go (a starter or advancer that stalls right after that request)."""

    def __init__(self):
        self.t = CannedTransport()
        self.servers: dict[str, dict] = {}
        self.put_bodies: dict[str, dict] = {}
        self.pauses: dict[tuple[str, str], tuple[threading.Event, threading.Event]] = {}
        self.t.add("GET", server_url(SOURCE, RG), self.answer(lambda r: Canned(200, source_body())))
        self.t.add("GET", ANY_SERVER, self.answer(self.get))
        self.t.add("PUT", ANY_SERVER, self.answer(self.put))
        self.t.add("DELETE", ANY_SERVER, self.answer(self.delete))
        self.t.add("GET", rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?",
                   self.answer(lambda r: Canned(200, {"value": list(self.servers.values())})))
        self.t.add("GET", r"azureAsyncOperation/aaaaaaaa", Arm.op("InProgress"))
        self.t.add("GET", r"azureAsyncOperation/cccccccc", Arm.op("Succeeded"))
        self.t.add("GET", r"operationResults/dddddddd", Canned(204))

    def pause(self, thread: str, method: str) -> tuple[threading.Event, threading.Event]:
        self.pauses[(thread, method)] = (threading.Event(), threading.Event())
        return self.pauses[(thread, method)]

    def answer(self, make_answer):
        def respond(request):
            canned = make_answer(request)  # answered now; the thread may hang before its next request
            paused = self.pauses.pop((threading.current_thread().name, request.method), None)
            if paused:
                paused[0].set()
                assert paused[1].wait(30)
            return canned
        return respond

    @staticmethod
    def name(request) -> str:
        return re.search(ANY_SERVER, request.url).group(1)

    def get(self, request) -> Canned:
        return Canned(200, self.servers[self.name(request)]) if self.name(request) in self.servers else Arm.not_found

    def put(self, request) -> Canned:
        name = self.name(request)
        body = derive(source_body(), "name", name)
        body = derive(body, "id", body["id"].replace(SOURCE, name).replace(f"/{RG}/", f"/{DRILL_RG}/"))
        self.put_bodies[name] = json.loads(getattr(request, "content", None) or request.body)
        body["tags"] = self.put_bodies[name]["tags"]
        self.servers[name] = body
        return Canned(202, None, dict(CREATE_HEADERS))

    def delete(self, request) -> Canned:
        self.servers.pop(self.name(request), None)
        return Canned(202, None, dict(DELETE_HEADERS))

    def sent(self, method: str) -> list[str]:
        return [self.name(r) for r in self.t.requests if r.method == method and re.search(ANY_SERVER, r.url)]


def in_thread(name: str, work) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        try:
            out["value"] = work()
        except DrillActive as exc:
            out["value"] = exc
    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, out


def current_test() -> str:
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]


def slot_holder(journal) -> str:
    return ", ".join(slot.holder_ids(journal))


def test_a_start_stalled_past_the_stale_threshold_loses_the_slot_and_never_puts(env):
    """A claims, hangs reading the source server; 16 min later B takes the stale slot and PUTs; A resumes:
    it finds the slot B's and stops (409 / exit 1) without a drill record and without a PUT."""
    arm, clock_a, clock_b = SharedArm(), Clock(A_AT), Clock(A_AT + timedelta(minutes=16))
    (ctx_a, journal_a), (ctx_b, journal_b) = make(env, arm, clock_a), make(env, arm, clock_b)
    reached, go = arm.pause("A", "GET")  # A's first ARM answer (the source server), then A hangs
    thread, a = in_thread("A", lambda: drill_mod.start_drill(ctx_a, journal_a, trigger="cli"))
    assert reached.wait(20)
    b = drill_mod.start_drill(ctx_b, journal_b, trigger="http")
    assert b.state == PROVISIONING and slot_holder(journal_b) == b.drill_id
    clock_a.now = clock_b.now + timedelta(minutes=1)
    go.set()
    thread.join(30)
    assert arm.sent("PUT") == [b.target_server]  # exactly one PUT reached ARM: B's
    assert isinstance(a["value"], slot.SlotLost) and b.drill_id in a["value"].reason, a
    assert [d.drill_id for d in drill_mod.load_drills(journal_b)] == [b.drill_id]
    assert slot_holder(journal_b) == b.drill_id


def test_a_start_that_lost_the_slot_after_saving_its_drill_rechecks_before_the_put(env, monkeypatch):
    """A hangs right when it saves its drill (after its own checks); B takes the stale slot and PUTs; A's
    re-check right before its PUT finds the slot B's: no PUT, and A's record is gone (it never reached
    Azure, and an active record would block every later drill)."""
    arm, clock_a, clock_b = SharedArm(), Clock(A_AT), Clock(A_AT + timedelta(minutes=16))
    (ctx_a, journal_a), (ctx_b, journal_b) = make(env, arm, clock_a), make(env, arm, clock_b)
    reached, go = threading.Event(), threading.Event()
    original = Journal.upsert

    def upsert(self, entity):
        if threading.current_thread().name == "A" and entity["PartitionKey"] == "drill" and not reached.is_set():
            reached.set()
            assert go.wait(30)
        return original(self, entity)

    monkeypatch.setattr(Journal, "upsert", upsert)
    thread, a = in_thread("A", lambda: drill_mod.start_drill(ctx_a, journal_a, trigger="cli"))
    assert reached.wait(20)
    b = drill_mod.start_drill(ctx_b, journal_b, trigger="timer")
    assert b.state == PROVISIONING
    go.set()
    thread.join(30)
    assert arm.sent("PUT") == [b.target_server]
    assert isinstance(a["value"], slot.SlotLost) and b.drill_id in a["value"].reason, a
    assert [d.drill_id for d in drill_mod.load_drills(journal_b)] == [b.drill_id]
    # A's record is marked abandoned, never deleted (the app has no delete right on the journal: issue 28)
    (lost,) = [e for e in journal_b.partition("drill") if e["RowKey"] != b.drill_id]
    assert lost["State"] == "abandoned" and "lost the drill slot" in lost["Events"]
    assert not [r for r in SESSION_REQUESTS if r.method == "DELETE" and r.test == current_test()]


def test_an_advance_that_lost_the_slot_never_deletes_the_next_drills_server(env):
    """Two invocations advance drill A (overdue: cleanup). The second reads A's server, then hangs; the first
    deletes it and finishes A; a new drill C restores to the same name. The second resumes: the slot is not
    A's any more, so it neither DELETEs (that would be C's server) nor rewrites A's finished record."""
    arm, clock = SharedArm(), Clock(T0)
    ctx, journal = make(env, arm, clock, RESTORE_DRILL_MAX_HOURS="2")
    first = drill_mod.start_drill(ctx, journal, trigger="cli")
    clock.advance(hours=2, minutes=1)
    reached, go = arm.pause("second", "GET")  # the second invocation's GET of A's server, before its DELETE
    ctx2, journal2 = make(env, arm, clock, RESTORE_DRILL_MAX_HOURS="2")
    thread, second = in_thread("second", lambda: drill_mod.advance_all(ctx2, journal2))
    assert reached.wait(20)
    (done,) = drill_mod.advance_all(ctx, journal)
    assert done.drill_id == first.drill_id and done.state == FAILED and done.cleanup == "deleted"
    later = drill_mod.start_drill(ctx, journal, trigger="cli")
    assert later.target_server == first.target_server and later.state == PROVISIONING
    go.set()
    thread.join(30)
    assert arm.sent("DELETE") == [first.target_server]  # one DELETE: the first invocation's
    assert arm.servers[later.target_server]["tags"]["drill-id"] == later.drill_id  # C's server is still there
    stored = {d.drill_id: d for d in drill_mod.load_drills(journal)}
    assert stored[first.drill_id].state == FAILED and stored[first.drill_id].cleanup == "deleted"
    assert stored[later.drill_id].state == PROVISIONING and slot_holder(journal) == later.drill_id


def test_the_sweeper_never_deletes_the_server_of_the_drill_holding_the_slot(env):
    """A drill still active past its expires-at (no invocation advanced it yet) cleans up its own server:
    `drill cleanup` refuses it; an expired server of a finished drill is still swept."""
    arm, clock = SharedArm(), Clock(T0)
    ctx, journal = make(env, arm, clock, RESTORE_DRILL_MAX_HOURS="2")
    active = drill_mod.start_drill(ctx, journal, trigger="cli")
    leftover = derive(arm.servers[active.target_server], "name", "medicapp-db-restore-20261001")
    leftover["tags"] = dict(leftover["tags"], **{"drill-id": "20261001T060000Z-aaaaaa"})
    arm.servers[leftover["name"]] = leftover
    clock.advance(hours=3)
    swept = {r["server"]: r["result"] for r in schedule.sweep(ctx, journal)}
    assert swept["medicapp-db-restore-20261001"] == "deleted"
    assert swept[active.target_server].startswith("refused:") and active.drill_id in swept[active.target_server]
    assert arm.sent("DELETE") == ["medicapp-db-restore-20261001"]


# --- checks that passed by accident (issue 27, item 14: the drill's) ---------------------------------
@pytest.mark.parametrize("point,accepted", [
    ("2026-11-01T05:50:00Z", True),  # exactly now - 10 min: the newest point the drill asks for
    ("2026-11-01T05:50:01Z", False),  # inside the 10-minute WAL margin: WAL may not be archived yet
    ("2026-11-01T06:55:00+01:00", False),  # 05:55Z, written in another zone
    ("2026-11-01T05:59:59Z", False),
])
def test_a_restore_point_inside_the_wal_margin_is_refused_before_any_put(env, point, accepted):
    arm = SharedArm()
    ctx, journal = make(env, arm, Clock(T0))
    drill = drill_mod.start_drill(ctx, journal, trigger="cli", restore_point=point)
    if accepted:
        assert drill.state == PROVISIONING and drill.restore_point == "2026-11-01T05:50:00Z"
        assert arm.put_bodies[drill.target_server]["properties"]["pointInTimeUTC"] == "2026-11-01T05:50:00Z"
        return
    assert drill.state == FAILED and "outside the restore window" in drill.error and "05:50:00Z" in drill.error
    assert arm.sent("PUT") == []


def test_a_server_with_one_of_the_two_drill_tags_is_never_swept(env):
    """Expired servers: only created-by, only drill-id, both. The sweeper deletes the last one only."""
    arm = SharedArm()
    ctx, journal = make(env, arm, Clock(T0))
    expired = {"expires-at": "2026-10-01T00:00:00Z"}
    for name, tags in [("one-created-by", {"created-by": "medicapp-backup-verifier"}),
                       ("one-drill-id", {"drill-id": "20261001T060000Z-aaaaaa"}),
                       ("both-tags", {"created-by": "medicapp-backup-verifier", "drill-id": "20261001T060000Z-bbbbbb"})]:
        arm.servers[name] = dict(derive(source_body(), "name", name), tags=dict(tags, **expired))
    assert schedule.sweep(ctx, journal) == [{"server": "both-tags", "drill_id": "20261001T060000Z-bbbbbb", "resource_group": DRILL_RG,
                                             "result": "deleted"}]
    assert arm.sent("DELETE") == ["both-tags"]


def test_a_drills_cleanup_refuses_a_server_carrying_its_drill_id_without_created_by(env):
    from checks.connect.azure import postgres_client
    from checks.drill.state import DrillGuardError, begin_guarded_delete
    arm = SharedArm()
    ctx, _ = make(env, arm, Clock(T0))
    arm.servers["look-alike"] = dict(derive(source_body(), "name", "look-alike"), tags={"drill-id": "d1"})
    with pytest.raises(DrillGuardError, match="does not carry drill d1's tags"):
        begin_guarded_delete(postgres_client(ctx), DRILL_RG, "look-alike", SOURCE, "d1", drill_group=DRILL_RG)
    assert arm.sent("DELETE") == []
