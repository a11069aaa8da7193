"""Every target drilled on its own cadence (issue 30 item 4): which targets are due (pure), the month's
round started bounded by RESTORE_DRILL_MAX_CONCURRENT and continued by the drill timer, one slot per
target plus the bound held by the journal's conditional writes (threads against Azurite), the settings
validated before any I/O, and the sweeper over every target's drill resource group."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from azure_fakes import Canned, CannedTransport, derive
from checks.drill import restore_drill as drill_mod
from checks.drill import rounds, schedule, slot
from checks.drill.state import ACTIVE, FAILED, PROVISIONING, SUCCEEDED, Drill, DrillActive
from checks.engine.config import ConfigError, Settings
from checks.journal.store import Journal
from test_drill import (CREATE_HEADERS, DRILL_RG, RG, SUB, T0, Arm, Clock, env, make,  # noqa: F401
                        source_body)
from test_drill_targets import canned, fleet_env  # noqa: F401  (fixtures)


def drill(target: str, at: str, state: str = SUCCEEDED) -> Drill:
    return Drill(drill_id=at.replace("-", "").replace(":", "")[:15] + "Z-" + target[:6].ljust(6, "x"),
                 state=state, trigger="timer", source_server="s", resource_group=DRILL_RG, target_server="t",
                 requested_at=at, restore_point="", restore_point_mode="", expires_at=at, target_name=target)


def due(drills, cadences, now, since=None) -> list[str]:
    drills = sorted(drills, key=lambda d: d.drill_id, reverse=True)
    return [d.name for d in rounds.due_targets(drills, cadences, "", now, since)]


NOV = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


# --- due selection (pure) -------------------------------------------------------------------------
def test_every_due_target_oldest_first_never_drilled_first_in_fleet_order():
    drills = [drill("a", "2026-01-10T06:00:00Z"), drill("b", "2025-06-01T06:00:00Z"), drill("d", "2026-10-01T06:00:00Z")]
    assert due(drills, {"a": 3, "b": 3, "c": 3, "d": 3, "e": 3}, NOV) == ["c", "e", "b", "a"]


def test_only_a_successful_drill_counts_a_failed_or_active_one_does_not():
    drills = [drill("a", "2026-10-15T06:00:00Z", FAILED), drill("a", "2026-01-01T06:00:00Z"),
              drill("b", "2026-10-31T06:00:00Z", PROVISIONING)]
    assert due(drills, {"a": 3, "b": 3}, NOV) == ["a"]  # a failed last month: still due; b is running


@pytest.mark.parametrize("last,now,every,is_due", [
    ("2025-12-31T23:00:00Z", datetime(2026, 12, 1, tzinfo=timezone.utc), 12, True),  # Dec → Dec: 12 calendar months
    ("2025-12-31T23:00:00Z", datetime(2026, 11, 30, 23, tzinfo=timezone.utc), 12, False),
    ("2026-12-31T23:59:59Z", datetime(2027, 1, 1, tzinfo=timezone.utc), 1, True),  # across the new year
    ("2026-01-01T00:00:00Z", datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc), 12, False),
    ("2016-11-01T00:00:00Z", datetime(2026, 11, 1, tzinfo=timezone.utc), 120, True),  # the longest cadence
    ("2016-11-02T00:00:00Z", datetime(2026, 10, 31, tzinfo=timezone.utc), 120, False),
])
def test_cadence_counts_calendar_months_across_years(last, now, every, is_due):
    assert due([drill("a", last)], {"a": every}, now) == (["a"] if is_due else [])


def test_each_target_has_its_own_cadence_and_a_round_leaves_out_what_it_started():
    drills = [drill("monthly", "2026-10-01T06:00:00Z"), drill("yearly", "2026-10-01T06:00:00Z")]
    assert due(drills, {"monthly": 1, "yearly": 12}, NOV) == ["monthly"]
    again = drills + [drill("monthly", "2026-11-01T06:05:00Z", FAILED)]
    assert due(again, {"monthly": 1, "yearly": 12}, NOV, since=NOV) == []  # attempted in this round: next month


def test_fifty_targets_are_each_drilled_within_their_cadence_not_every_four_years():
    """The issue's numbers: 50 targets, cadence 3, 2 at once, a drill takes 6 h. Simulate the monthly round and
    the drill timer: every target gets a successful drill within every 3 calendar months."""
    names = [f"t{i:02d}" for i in range(50)]
    drills: list[Drill] = []
    now = datetime(2026, 1, 1, 6, tzinfo=timezone.utc)
    last: dict[str, datetime] = {}
    while now < datetime(2028, 1, 1, tzinfo=timezone.utc):
        start = now
        pending = [d.name for d in rounds.due_targets(drills, dict.fromkeys(names, 3), "", now)]
        while pending:  # two at a time, 6 h each: the timer starts the next ones
            for name in pending[:2]:
                drills.insert(0, drill(name, now.strftime("%Y-%m-%dT%H:%M:%SZ")))
                last[name] = now
            pending, now = pending[2:], now + timedelta(hours=6)
        assert now - start < timedelta(days=28)
        month = start.month % 12 + 1
        now = start.replace(year=start.year + (month == 1), month=month)
    assert set(last) == set(names)
    assert all(d.requested_at >= "2027-10-01" for d in drills[:50])  # everyone drilled in the last 3 months


# --- settings: validated before any I/O, naming the variable -----------------------------------------
@pytest.mark.parametrize("variable,value", [
    ("RESTORE_DRILL_EVERY_MONTHS", "0"), ("RESTORE_DRILL_EVERY_MONTHS", "121"), ("RESTORE_DRILL_EVERY_MONTHS", "1e3"),
    ("RESTORE_DRILL_MAX_CONCURRENT", "0"), ("RESTORE_DRILL_MAX_CONCURRENT", "21"), ("RESTORE_DRILL_MAX_CONCURRENT", "two"),
    ("RESTORE_DRILL_MAX_CONCURRENT", "2\x00"),
])
def test_cadence_and_bound_out_of_range_name_the_variable(env, variable, value):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(dict(env, **{variable: value}))
    assert variable in caught.value.problems


def test_cadence_120_and_bound_20_are_accepted(env):
    s = Settings.from_env(dict(env, RESTORE_DRILL_EVERY_MONTHS="120", RESTORE_DRILL_MAX_CONCURRENT="20",
                               DRILL_MAX_AGE_MONTHS="120"))
    assert (s.restore_drill_every_months, s.restore_drill_max_concurrent) == (120, 20)


def fleet(**settings_of: dict) -> str:
    return json.dumps([{"name": name, "postgres": {"resource_group": f"rg-{name}", "server": f"{name}-db"},
                        "settings": own} for name, own in settings_of.items()])


def test_a_target_overrides_its_cadence_and_drill_group_not_the_bound(env):
    s = Settings.from_env(dict(env, TARGETS=fleet(a={"RESTORE_DRILL_EVERY_MONTHS": 1},
                                                  b={"RESTORE_DRILL_RESOURCE_GROUP": "rg-b-drills"})))
    assert schedule.cadences(s, ["a", "b"], None) == {"a": 1, "b": 3}
    with pytest.raises(ConfigError, match=r"target 1 \(a\): RESTORE_DRILL_EVERY_MONTHS"):
        Settings.from_env(dict(env, TARGETS=fleet(a={"RESTORE_DRILL_EVERY_MONTHS": "0"})))
    with pytest.raises(ConfigError, match="RESTORE_DRILL_MAX_CONCURRENT is deployment-wide"):
        Settings.from_env(dict(env, TARGETS=fleet(a={"RESTORE_DRILL_MAX_CONCURRENT": "5"})))


def test_a_targets_drill_group_is_never_another_targets_production_group(env):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(dict(env, TARGETS=fleet(a={}, b={"RESTORE_DRILL_RESOURCE_GROUP": "RG-A"})))
    assert "RG-A (drill group of b) is PG_RESOURCE_GROUP of a" in caught.value.problems["TARGETS"]


# --- one slot per target plus the bound, under racing timers (Azurite) ------------------------------
def race(env, claims: list[tuple[str, str]], limit: int, monkeypatch) -> tuple[list, Journal]:
    """Every claim in its own thread, all reading the slot before any writes (the worst interleaving)."""
    journal = Journal.from_settings(Settings.from_env(env))
    barrier, local = threading.Barrier(len(claims)), threading.local()
    original = Journal.get_entity

    def read_then_wait(self, partition_key, row_key):
        found = original(self, partition_key, row_key)
        if partition_key == slot.SLOT_PARTITION and not getattr(local, "waited", False):
            local.waited = True
            barrier.wait(timeout=30)
        return found

    monkeypatch.setattr(Journal, "get_entity", read_then_wait)
    out: list = [None] * len(claims)

    def claim(i: int) -> None:
        drill_id, target = claims[i]
        try:
            out[i] = slot.claim(Journal.from_settings(Settings.from_env(env)), drill_id, T0, target, limit)
        except DrillActive as exc:
            out[i] = exc
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(claims))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(Journal, "get_entity", original)
    return out, journal


def test_racing_claims_never_exceed_the_bound(env, monkeypatch):
    claims = [(f"20261101T060000Z-{i:06d}", f"t{i}") for i in range(5)]
    out, journal = race(env, claims, 2, monkeypatch)
    held = [o for o in out if isinstance(o, slot.Held)]
    assert len(held) == 2 and all(isinstance(o, slot.DrillBusy) for o in out if o not in held), out
    assert sorted(slot.holder_ids(journal)) == sorted(h.drill_id for h in held)
    assert "RESTORE_DRILL_MAX_CONCURRENT is 2" in next(o for o in out if o not in held).reason


def test_racing_claims_of_one_target_never_both_hold(env, monkeypatch):
    claims = [("20261101T060000Z-aaaaaa", "prod"), ("20261101T060000Z-bbbbbb", "prod"),
              ("20261101T060000Z-cccccc", "staging")]
    out, journal = race(env, claims, 5, monkeypatch)
    prod = [o for o in out[:2] if isinstance(o, slot.Held)]
    assert len(prod) == 1 and isinstance(out[2], slot.Held), out
    loser = next(o for o in out[:2] if not isinstance(o, slot.Held))
    assert type(loser) is DrillActive and loser.drill_id == prod[0].drill_id and loser.target == "prod"
    assert sorted(slot.holder_ids(journal)) == sorted([prod[0].drill_id, out[2].drill_id])


def test_another_drills_confirm_does_not_take_a_holders_slot(env):
    """Two drills of two targets hold the slot: each one's confirmations change the ETag, never the other's hold."""
    journal = Journal.from_settings(Settings.from_env(env))
    a = slot.claim(journal, "20261101T060000Z-aaaaaa", T0, "a", 2)
    b = slot.claim(journal, "20261101T060000Z-bbbbbb", T0, "b", 2)
    for minute in range(3):
        a.confirm(T0 + timedelta(minutes=minute))
        b.confirm(T0 + timedelta(minutes=minute))
    stale = slot.Held(journal, a.drill_id, "someone-else", "a")  # an invocation whose entry was rewritten since
    with pytest.raises(slot.SlotLost, match="another invocation is advancing"):
        stale.confirm(T0)


# --- the round: the monthly hook bounded, the timer continuing (Azurite, canned ARM) --------------------
NAMES = ["t1", "t2", "t3", "t4"]
ANY_DRILL_SERVER = rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers/([a-z0-9-]+)\?"


class FleetArm:
    """ONE ARM for a fleet of four targets (their servers in rg-<name>): a PUT creates the drill server."""

    def __init__(self):
        self.t = CannedTransport()
        self.servers: dict[str, dict] = {}
        for name in NAMES:
            body = derive(derive(source_body(), "name", f"{name}-db"), "id",
                          f"/subscriptions/{SUB}/resourceGroups/rg-{name}/providers/Microsoft.DBforPostgreSQL/"
                          f"flexibleServers/{name}-db")
            self.t.json("GET", rf"/resourceGroups/rg-{name}/providers/Microsoft\.DBforPostgreSQL/flexibleServers/"
                               rf"{name}-db\?", body)
        self.t.add("GET", ANY_DRILL_SERVER, lambda r: Canned(200, self.servers[self.name(r)])
                   if self.name(r) in self.servers else Arm.not_found)
        self.t.add("PUT", ANY_DRILL_SERVER, self.put)
        self.t.add("GET", r"azureAsyncOperation/aaaaaaaa", Arm.op("InProgress"))

    @staticmethod
    def name(request) -> str:
        import re
        return re.search(ANY_DRILL_SERVER, request.url).group(1)

    def put(self, request) -> Canned:
        self.servers[self.name(request)] = dict(derive(source_body(), "name", self.name(request)),
                                                tags=json.loads(request.body)["tags"])
        return Canned(202, None, dict(CREATE_HEADERS))

    def sources(self) -> list[str]:
        return [json.loads(r.body)["properties"]["sourceServerResourceId"].rsplit("/", 1)[-1]
                for r in self.t.requests if r.method == "PUT"]


@pytest.fixture
def four(env):
    return dict(env, TARGETS=fleet(**{n: {} for n in NAMES}), RESTORE_DRILL_MAX_CONCURRENT="2")


def test_monthly_hook_starts_the_due_targets_up_to_the_bound_and_the_timer_the_rest(four):
    arm, clock = FleetArm(), Clock(T0)
    ctx, journal = make(four, arm, clock)
    journal.upsert(drill("t2", "2026-10-01T06:00:00Z").to_entity())  # drilled last month: not due (3 months)
    journal.upsert(drill("t4", "2026-05-01T06:00:00Z").to_entity())  # drilled in May: due, after the never-drilled
    out = schedule.monthly_hook(ctx, journal, NAMES)
    assert [d["target"] for d in out["due"]] == ["t1", "t3", "t4"]
    assert [s["target"] for s in out["started"]] == ["t1", "t3"] and out["waiting"] == ["t4"]
    assert "t4: waiting for a free drill (RESTORE_DRILL_MAX_CONCURRENT 2)" in out["note"]
    assert arm.sources() == ["t1-db", "t3-db"]
    clock.advance(minutes=10)  # the drill timer: both still provisioning, t4 still waits (said in the result)
    tick = schedule.timer_tick(ctx, journal)
    assert tick["started"] == [] and tick["waiting"] == ["t4"] and len(arm.sources()) == 2
    (first,) = [d for d in drill_mod.load_drills(journal) if d.target_name == "t1"]
    assert first.state in ACTIVE
    first.state = SUCCEEDED  # t1's drill finished
    journal.upsert(first.to_entity())
    clock.advance(minutes=10)
    tick = schedule.timer_tick(ctx, journal)
    assert [s["target"] for s in tick["started"]] == ["t4"] and arm.sources()[-1] == "t4-db"
    clock.advance(minutes=10)
    assert not schedule.timer_tick(ctx, journal).get("started")  # the round is done: nothing more this month
    again = schedule.monthly_hook(ctx, journal, NAMES)  # a second monthly run this month keeps the round
    assert again["pending"] == [] and len(arm.sources()) == 3


def test_the_timer_starts_nothing_before_the_months_round_is_open(four):
    arm, clock = FleetArm(), Clock(T0)
    ctx, journal = make(four, arm, clock)
    assert schedule.timer_tick(ctx, journal) == {"advanced": []}
    assert arm.t.requests == []


def test_two_timer_instances_racing_start_each_target_once_and_at_most_the_bound(four):
    """The monthly hook ran in a busy month (no capacity); then two drill timer instances tick at once:
    exactly two drills start, of two different targets, and the other two wait."""
    arm, clock = FleetArm(), Clock(T0)
    ctx, journal = make(four, arm, clock)
    rounds.open_round(journal, T0, [rounds.Due(n, None, 3) for n in NAMES])
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def tick(i: int) -> None:
        own, own_journal = make(four, arm, clock)
        barrier.wait(timeout=30)
        results[i] = schedule.timer_tick(own, own_journal)
    threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    active = [d for d in drill_mod.load_drills(journal) if d.active]
    assert len(active) == 2 and len({d.target_name for d in active}) == 2, results
    assert len(arm.sources()) == 2 and len(set(arm.sources())) == 2  # two PUTs, two targets, never more
    # the later of two racing starts sees the earlier in the slot and takes its drill id's suffix as the server's
    # name: no start is refused for a name the other one picked at the same moment
    assert [d.state for d in drill_mod.load_drills(journal)] == [PROVISIONING, PROVISIONING]
    assert sum(len(r.get("started", [])) for r in results) == 2 and len(set(arm.servers)) == 2


# --- the sweeper covers every target's drill resource group ------------------------------------------
OTHER_SUB = "99999999-8888-7777-6666-555555555555"


def test_sweeper_covers_every_targets_drill_group_in_its_subscription(env):
    tags = {"created-by": "medicapp-backup-verifier", "drill-id": "20261001T060000Z-aaaaaa",
            "expires-at": "2026-10-01T00:00:00Z"}
    targets = json.dumps([
        {"name": "a", "postgres": {"resource_group": "rg-a", "server": "a-db"}},
        {"name": "b", "postgres": {"subscription": OTHER_SUB, "resource_group": "rg-b", "server": "b-db"},
         "settings": {"RESTORE_DRILL_RESOURCE_GROUP": "rg-b-drills"}}])
    t = CannedTransport()
    for sub, group, server in ((SUB, DRILL_RG, "expired-a"), (OTHER_SUB, "rg-b-drills", "expired-b")):
        listing = rf"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft\.DBforPostgreSQL/flexibleServers"
        body = dict(derive(source_body(), "name", server), tags=dict(tags, **{"drill-id": f"20261001T060000Z-{server[-1]}aaaaa"}))
        disguised = dict(derive(source_body(), "name", "b-db"), tags=tags)  # named like a target's server
        foreign = dict(derive(source_body(), "name", "someone-else"), tags={"expires-at": "2026-10-01T00:00:00Z"})
        t.json("GET", listing + r"\?", {"value": [body, disguised, foreign]})
        t.json("GET", listing + rf"/{server}\?", body)
        t.add("DELETE", listing + rf"/{server}\?", Canned(204))
    arm = Arm()
    arm.t = t
    ctx, journal = make(env, arm, Clock(T0), TARGETS=targets, PG_SERVER_NAME="")
    swept = schedule.sweep(ctx, journal)
    assert [(r["resource_group"], r["server"], r["result"]) for r in swept] == [
        (DRILL_RG, "expired-a", "deleted"), ("rg-b-drills", "expired-b", "deleted")]
    deletes = [r.url for r in t.requests if r.method == "DELETE"]
    assert len(deletes) == 2 and OTHER_SUB in deletes[1] and "/rg-b-drills/" in deletes[1]


def test_a_group_the_sweeper_cannot_list_is_a_failed_row_and_the_others_are_still_swept(env):
    from azure_fakes import arm_error_body
    targets = json.dumps([
        {"name": "a", "postgres": {"resource_group": "rg-a", "server": "a-db"}},
        {"name": "b", "postgres": {"subscription": OTHER_SUB, "resource_group": "rg-b", "server": "b-db"},
         "settings": {"RESTORE_DRILL_RESOURCE_GROUP": "rg-b-drills"}}])
    t = CannedTransport()
    t.add("GET", rf"/subscriptions/{OTHER_SUB}/resourceGroups/rg-b-drills/providers/Microsoft\.DBforPostgreSQL/"
                 r"flexibleServers\?", Canned(403, arm_error_body("AuthorizationFailed", "no rights here")))
    t.json("GET", rf"/subscriptions/{SUB}/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/"
                  r"flexibleServers\?", {"value": []})
    arm = Arm()
    arm.t = t
    ctx, journal = make(env, arm, Clock(T0), TARGETS=targets, PG_SERVER_NAME="")
    (row,) = schedule.sweep(ctx, journal)
    assert row["resource_group"] == "rg-b-drills" and row["result"].startswith("failed:")
    assert len([r for r in t.requests if r.method == "GET"]) == 2  # both groups listed


def test_the_sweeper_never_deletes_a_live_holders_server_in_a_targets_group(env):
    targets = json.dumps([{"name": "b", "postgres": {"resource_group": "rg-b", "server": "b-db"},
                           "settings": {"RESTORE_DRILL_RESOURCE_GROUP": "rg-b-drills"}}])
    t = CannedTransport()
    ctx, journal = make(env, Arm(), Clock(T0), TARGETS=targets)
    held = slot.claim(journal, "20261101T055500Z-bbbbbb", T0, "b", 2)  # starting, fresh
    body = dict(derive(source_body(), "name", "holder"), tags={
        "created-by": "medicapp-backup-verifier", "drill-id": held.drill_id, "expires-at": "2026-10-01T00:00:00Z"})
    listing = r"/resourceGroups/rg-b-drills/providers/Microsoft\.DBforPostgreSQL/flexibleServers"
    t.json("GET", listing + r"\?", {"value": [body]}).json("GET", listing + r"/holder\?", body)
    t.json("GET", rf"/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers\?", {"value": []})
    arm = Arm()
    arm.t = t
    ctx, journal = make(env, arm, Clock(T0), TARGETS=targets)
    (row,) = schedule.sweep(ctx, journal)
    assert row["result"].startswith("refused:") and held.drill_id in row["result"]
    assert [r for r in t.requests if r.method == "DELETE"] == []


# --- the fleet overview: each target's last successful drill, overdue in red ------------------------
def report_env(base_env) -> dict:
    from test_report_fleet import TARGETS
    targets = [dict(t) for t in TARGETS]
    targets[1]["settings"] = {"RESTORE_DRILL_EVERY_MONTHS": "1"}  # preprod: monthly
    return dict(base_env, TARGETS=json.dumps(targets), RESTORE_DRILL_ENABLED="true",
                RESTORE_DRILL_RESOURCE_GROUP="rg-drills")


def test_fleet_overview_shows_each_targets_last_successful_drill_and_overdue(base_env):
    from checks.report.fleet import fleet_overview
    from checks.report.pages import Links, fleet_page
    from checks.cli import main
    import io
    env = report_env(base_env)
    settings = Settings.from_env(env)
    journal = Journal.from_settings(settings)
    prod = drill("prod", "2026-09-01T06:00:00Z")
    for d in (prod, drill("preprod", "2026-08-15T06:00:00Z"), drill("preprod", "2026-10-20T06:00:00Z", FAILED),
              drill("prod", "2026-11-02T06:00:00Z")):  # prod's November drill is after the month shown
        journal.upsert(d.to_entity())
    fleet = fleet_overview(journal, "2026-10", settings, now=datetime(2026, 11, 5, tzinfo=timezone.utc))
    rows = {r["target"]: r["drill_standing"] for r in fleet.to_dict()["rows"]}
    assert rows["prod"] == {"last_success_drill_id": prod.drill_id, "last_success_at": "2026-09-01T06:00:00Z",
                            "every_months": 3, "months_since": 1, "overdue": False, "round": None}
    assert rows["preprod"]["every_months"] == 1 and rows["preprod"]["months_since"] == 2 and rows["preprod"]["overdue"]
    assert rows["staging"]["last_success_drill_id"] is None and rows["staging"]["overdue"]  # never drilled
    html = fleet_page(fleet, Links())
    assert f'<a href="drill-{prod.drill_id}.html">' in html
    assert html.count('<span class="status s-fail">overdue</span>') == 2 and "every 3 months" in html
    out = io.StringIO()
    main(["report", "--month", "2026-10", "--fleet"], out=out, env=env)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("| staging"))
    assert "Last successful drill: never **overdue**" in line
    out = io.StringIO()
    main(["--lang", "fr", "report", "--month", "2026-10", "--fleet", "--format", "html"], out=out, env=env)
    assert "Dernier exercice réussi :" in out.getvalue() and ">en retard</span>" in out.getvalue()
    assert "tous les 3 mois" in out.getvalue() and "jamais" in out.getvalue()


def test_no_drill_standing_when_the_drill_is_not_enabled(base_env):
    from checks.report.fleet import fleet_overview
    env = dict(report_env(base_env), RESTORE_DRILL_ENABLED="false")
    settings = Settings.from_env(env)
    fleet = fleet_overview(Journal.from_settings(settings), "2026-10", settings,
                           now=datetime(2026, 11, 5, tzinfo=timezone.utc))
    assert {r["drill_standing"] is None for r in fleet.to_dict()["rows"]} == {True}


# --- infra: each target's drill group, in its subscription, gets the drill role -----------------------------
def fleet_drills(**params):
    from bicep_eval import Evaluator
    from test_infra import parse
    from test_infra_guards import BASE, TARGETS
    targets = [dict(t) for t in TARGETS]
    targets[1] = dict(targets[1], settings={"RESTORE_DRILL_RESOURCE_GROUP": "rg-us-drills"})
    return Evaluator(parse("main.bicep"), BASE | {"targets": json.dumps(targets)} | params).var("fleetDrills")


def test_each_targets_drill_group_is_created_in_its_subscription_with_the_drill_role():
    from test_infra import body, parse
    assert [(d["name"], d["subscription"], d["resourceGroup"]) for d in fleet_drills()] == [
        ("prod-eu", "SUB", "rg-medicapp-drills"), ("prod-us", "SUB2", "rg-us-drills"),
        ("own", "SUB", "rg-medicapp-drills")]
    assert fleet_drills(restoreDrillEnabled=False) == []
    main = parse("main.bicep")
    groups, roles = main["modules"]["fleetDrillGroups"], main["modules"]["fleetDrill"]
    assert "drill-group.bicep" in json.dumps(groups) and "fleetDrills" in json.dumps(groups)
    assert roles["detail"]["path"] == "modules/drill.bicep"
    assert roles["config"]["loop_type"]["detail"] == {"item_name": "d", "array_name": "fleetDrills"}
    scope = roles["config"]["config"]["scope"]["function"]  # resourceGroup(its subscription, its drill group)
    assert scope["type"] == "resource_group"
    assert {k: v["operator"]["operands"]["operand_2"] for k, v in scope["parameters"].items()} == {
        "subscription_id": "subscription", "resource_group_name": "resourceGroup"}
    assert body(parse("modules/drill-group.bicep")["resources"]["drillGroup"])["name"] == "name"


@pytest.mark.parametrize("group", ["rg-eu", "RG-MEDICAPP", "rg-medicapp-env"])
def test_a_targets_drill_group_that_is_a_production_group_stops_the_deployment(group):
    from bicep_eval import BicepFail
    with pytest.raises(BicepFail, match="RESTORE_DRILL_RESOURCE_GROUP must not be a production resource group"):
        fleet_drills(resourceGroupName="rg-medicapp-env", targets=json.dumps([
            {"name": "a", "postgres": {"resource_group": "rg-eu", "server": "db-eu"},
             "settings": {"RESTORE_DRILL_RESOURCE_GROUP": group}}]))


def test_a_cadence_longer_than_the_drill_age_alert_is_refused_per_target_too(env):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(dict(env, RESTORE_DRILL_EVERY_MONTHS="24"))
    assert "at most DRILL_MAX_AGE_MONTHS (12), got 24" in caught.value.problems["RESTORE_DRILL_EVERY_MONTHS"]
    assert Settings.from_env(dict(env, RESTORE_DRILL_EVERY_MONTHS="24", DRILL_MAX_AGE_MONTHS="24"))
    with pytest.raises(ConfigError, match=r"target a: RESTORE_DRILL_EVERY_MONTHS: expected at most DRILL_MAX_AGE"):
        Settings.from_env(dict(env, TARGETS=fleet(a={"RESTORE_DRILL_EVERY_MONTHS": "13"})))
    one = Settings.from_env(dict(env, TARGETS=fleet(a={"RESTORE_DRILL_EVERY_MONTHS": "24", "DRILL_MAX_AGE_MONTHS": "30"})))
    assert schedule.cadences(one, ["a"], None) == {"a": 24}


# --- the bound at the entry points: CLI exit 1, HTTP 409, naming the setting, before any ARM call -------------
def test_cli_and_http_start_refused_by_the_bound_name_the_setting(fleet_env, canned, env_patch, monkeypatch, capsys):
    import io
    import azure.functions as func
    import function_app
    from checks import cli
    env = dict(fleet_env, RESTORE_DRILL_MAX_CONCURRENT="1")
    assert cli.main(["drill", "start", "--target", "staging"], out=io.StringIO(), env=env) == 0
    before = len(canned.t.requests)
    assert cli.main(["drill", "start", "--target", "prod"], out=io.StringIO(), env=env) == 1
    assert "RESTORE_DRILL_MAX_CONCURRENT is 1 and that many restore drills are active" in capsys.readouterr().err
    monkeypatch.setattr(function_app.app, "functions_bindings", {})
    handler = {f.get_function_name(): f for f in function_app.app.get_functions()}["drill_start"].get_user_function()
    env_patch(env)
    resp = handler(func.HttpRequest(method="POST", url="/api/drill", body=json.dumps({"target": "prod"}).encode(),
                                    headers={"content-type": "application/json"}, params={}))
    body = json.loads(resp.get_body())
    assert resp.status_code == 409 and "RESTORE_DRILL_MAX_CONCURRENT is 1" in body["error"] and body["target"] == "staging"
    assert len(canned.t.requests) == before  # refused before any ARM call


def test_drill_cleanup_of_a_discovered_fleet_sweeps_each_subscriptions_drill_group(base_env, monkeypatch, capsys):
    """DISCOVER_TAG finds servers in two subscriptions: `drill cleanup` lists the drill group in each (a drill
    restores in its source's subscription) and deletes the expired drill server found in the other one."""
    import io
    from azure_fakes import StaticCredential, sdk_kwargs
    from checks import cli
    from checks.engine.context import RunContext
    from test_discovery import BASE, GRAPH, SUB as DSUB, page, row
    t = CannedTransport().json("POST", GRAPH, page([row("server", "db-a", "A"), row("server", "db-b", "B", sub=OTHER_SUB)]))
    expired = dict(derive(source_body(), "name", "expired-b"), tags={
        "created-by": "medicapp-backup-verifier", "drill-id": "20261001T060000Z-bbbbbb",
        "expires-at": "2026-10-01T00:00:00Z"})
    for sub, listing in ((DSUB, []), (OTHER_SUB, [expired])):
        servers = rf"/subscriptions/{sub}/resourceGroups/{DRILL_RG}/providers/Microsoft\.DBforPostgreSQL/flexibleServers"
        t.json("GET", servers + r"\?", {"value": listing})
    t.json("GET", rf"/subscriptions/{OTHER_SUB}/resourceGroups/{DRILL_RG}/.*/flexibleServers/expired-b\?", expired)
    t.add("DELETE", rf"/subscriptions/{OTHER_SUB}/resourceGroups/{DRILL_RG}/.*/flexibleServers/expired-b\?", Canned(204))
    monkeypatch.setattr(drill_mod, "make_context", lambda settings: RunContext(
        settings=settings, clock=Clock(T0), credential=StaticCredential(), azure_kwargs=sdk_kwargs(t)))
    env = base_env | BASE | {"RESTORE_DRILL_ENABLED": "true", "RESTORE_DRILL_RESOURCE_GROUP": DRILL_RG}
    out = io.StringIO()
    assert cli.main(["drill", "cleanup"], out=out, env=env) == 0, capsys.readouterr().err
    assert out.getvalue() == "expired-b: deleted\n"
    listed = [r.url.split("/resourceGroups/")[0].rsplit("/", 1)[-1] for r in t.requests
              if r.method == "GET" and r.url.split("?")[0].endswith("/flexibleServers")]
    assert sorted(listed) == sorted([DSUB, OTHER_SUB])


def test_a_round_of_a_thousand_due_targets_fits_the_journal_and_keeps_the_oldest(env, caplog):
    journal = Journal.from_settings(Settings.from_env(env))
    due_list = [rounds.Due(f"target-{i:04d}-" + "x" * 28, None, 3) for i in range(1000)]  # 40-character names
    opened = rounds.open_round(journal, T0, due_list)
    assert 500 < len(opened.due) < 1000 and opened.due == tuple(d.name for d in due_list[:len(opened.due)])
    assert "holds the" in caplog.text and "oldest due targets of 1000" in caplog.text
    assert rounds.read_round(journal, T0) == opened


# --- a start that fails before any drill record: counted in the round, tried a bounded number of times ------
def test_a_target_whose_start_fails_is_counted_in_the_round_and_not_retried_every_tick(env):
    from azure_fakes import arm_error_body
    arm, clock = FleetArm(), Clock(T0)
    arm.t.json("GET", r"/resourceGroups/rg-gone/providers/Microsoft\.DBforPostgreSQL/flexibleServers/gone-db\?",
               arm_error_body("ResourceNotFound", "The Resource 'gone-db' was not found."), 404)
    targets = json.loads(fleet(t1={}))
    targets.append({"name": "gone", "postgres": {"resource_group": "rg-gone", "server": "gone-db"}})
    ctx, journal = make(dict(env, TARGETS=json.dumps(targets)), arm, clock)
    out = schedule.monthly_hook(ctx, journal, ["t1", "gone"])
    assert [s["target"] for s in out["started"]] == ["t1"]
    (error,) = out["errors"]
    assert error["target"] == "gone" and error["tries"] == 1 and not error["gave_up"] and "gone-db" in error["error"]
    gets = lambda: len([r for r in arm.t.requests if "gone-db" in r.url])  # noqa: E731
    for tick in range(2, rounds.ROUND_MAX_TRIES + 1):
        clock.advance(minutes=10)
        (error,) = schedule.timer_tick(ctx, journal)["errors"]
        assert error["tries"] == tick
    assert error["gave_up"] and gets() == rounds.ROUND_MAX_TRIES
    for _ in range(5):  # the rest of the month: never asked again, said on every tick
        clock.advance(minutes=10)
        tick = schedule.timer_tick(ctx, journal)
        assert "errors" not in tick and tick["gave_up"] == ["gone"]
    assert gets() == rounds.ROUND_MAX_TRIES
    current = rounds.read_round(journal, clock())
    assert current.attempts["gone"]["tries"] == rounds.ROUND_MAX_TRIES and "gone-db" in current.attempts["gone"]["error"]
    view = current.describe(drill_mod.load_drills(journal), "")
    assert view["started"] == ["t1"] and view["gave_up"] == ["gone"] and view["pending"] == []
    clock.now = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)  # next month's round tries it again
    again = schedule.monthly_hook(ctx, journal, ["t1", "gone"])
    assert "gone" in again["pending"] and again["errors"][0]["tries"] == 1


def test_a_corrupt_attempts_property_is_read_as_no_attempts(env):
    arm, clock = FleetArm(), Clock(T0)
    ctx, journal = make(dict(env, TARGETS=fleet(t1={})), arm, clock)
    rounds.open_round(journal, T0, [rounds.Due("t1", None, 3)])
    row, etag = journal.get_entity(rounds.ROUND_PARTITION, "2026-11")
    journal.replace_if_unchanged(dict(row, Attempts='{"t1": {"tries": "x"}}'), etag)
    assert rounds.read_round(journal, T0).pending([], "") == ["t1"]
    assert rounds.record_failed_start(journal, T0, "t1", "boom") == 1


def test_drill_status_shows_the_months_round_in_english_french_and_json(env, monkeypatch):
    import io
    from azure_fakes import StaticCredential, arm_error_body, sdk_kwargs
    from checks import cli
    from checks.engine.context import RunContext
    arm, clock = FleetArm(), Clock(T0)
    arm.t.json("GET", r"/resourceGroups/rg-gone/providers/Microsoft\.DBforPostgreSQL/flexibleServers/gone-db\?",
               arm_error_body("ResourceNotFound", "The Resource 'gone-db' was not found."), 404)
    targets = json.loads(fleet(**{n: {} for n in NAMES}))
    targets.insert(0, {"name": "gone", "postgres": {"resource_group": "rg-gone", "server": "gone-db"}})
    four_and_gone = dict(env, TARGETS=json.dumps(targets), RESTORE_DRILL_MAX_CONCURRENT="2")
    monkeypatch.setattr(drill_mod, "make_context", lambda settings: RunContext(
        settings=settings, clock=clock, credential=StaticCredential(), azure_kwargs=sdk_kwargs(arm.t)))
    status = io.StringIO()
    assert cli.main(["drill", "status"], out=status, env=four_and_gone) == 0
    assert "No drill round this month yet" in status.getvalue()
    ctx, journal = make(four_and_gone, arm, clock)
    schedule.monthly_hook(ctx, journal, ["gone"] + NAMES)  # gone fails to start; t1, t2 start; t3, t4 wait
    status = io.StringIO()
    assert cli.main(["drill", "status"], out=status, env=four_and_gone) == 0
    text = status.getvalue()
    assert "Drill round 2026-11 (opened 2026-11-01T06:00:00Z): due gone, t1, t2, t3, t4\n  started: t1, t2\n" in text
    assert "  waiting for a free drill (RESTORE_DRILL_MAX_CONCURRENT 2, 2 active): gone, t3, t4\n" in text
    assert "  failed to start: gone (1 of 3 tries, last 2026-11-01T06:00:00Z): " in text and "gone-db" in text
    french = io.StringIO()
    assert cli.main(["drill", "status", "--lang", "fr"], out=french, env=four_and_gone) == 0
    assert "Tournée d'exercices 2026-11 (ouverte le 1 nov. 2026 06:00 UTC) : dues gone, t1, t2, t3, t4" in french.getvalue()
    assert "en attente d'un exercice libre (RESTORE_DRILL_MAX_CONCURRENT 2, 2 actifs) : gone, t3, t4" in french.getvalue()
    assert "échec du démarrage : gone (essai 1 sur 3, dernier le 1 nov. 2026 06:00 UTC) : " in french.getvalue()
    as_json = io.StringIO()
    assert cli.main(["drill", "status", "--json", "--target", "gone"], out=as_json, env=four_and_gone) == 0
    shown = json.loads(as_json.getvalue())
    assert shown["drills"] == [] and shown["round"]["due"] == ["gone"] and shown["round"]["pending"] == ["gone"]
    assert shown["round"]["failed_starts"]["gone"]["tries"] == 1 and shown["round"]["waiting_for_place"] is True


def test_fleet_overview_shows_where_each_target_stands_in_the_months_round(base_env):
    import io
    from checks.cli import main
    from checks.report.fleet import fleet_overview
    from checks.report.pages import Links, fleet_page
    env = report_env(base_env)
    settings = Settings.from_env(env)
    journal = Journal.from_settings(settings)
    rounds.open_round(journal, T0, [rounds.Due(n, None, 3) for n in ("staging", "preprod", "prod")])
    journal.upsert(drill("preprod", "2026-11-01T06:05:00Z", PROVISIONING).to_entity())  # started in the round
    for _ in range(rounds.ROUND_MAX_TRIES):
        rounds.record_failed_start(journal, T0, "staging", "source server staging-db not found")
    rounds.record_failed_start(journal, T0, "prod", "AuthorizationFailed")
    fleet = fleet_overview(journal, "2026-11", settings, now=datetime(2026, 11, 5, tzinfo=timezone.utc))
    rows = {r["target"]: r["drill_standing"]["round"] for r in fleet.to_dict()["rows"]}
    assert rows == {"prod": {"state": "failed_start", "failed_tries": 1},
                    "preprod": {"state": "started", "failed_tries": 0},
                    "staging": {"state": "gave_up", "failed_tries": 3}}
    html = fleet_page(fleet, Links())
    assert "this month's drill round: failed to start (3 tries), tried again next month" in html
    assert "this month's drill round: started" in html
    out = io.StringIO()
    main(["report", "--month", "2026-11", "--fleet"], out=out, env=env)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("| prod"))
    assert "**this month's drill round: failed to start (1 try), tried again**" in line
    out = io.StringIO()
    main(["--lang", "fr", "report", "--month", "2026-11", "--fleet", "--format", "html"], out=out, env=env)
    assert "tournée d'exercices du mois : échec du démarrage (3 essais), essayé de nouveau le mois prochain" \
        in out.getvalue()
    october = fleet_overview(journal, "2026-10", settings, now=datetime(2026, 11, 5, tzinfo=timezone.utc))
    assert {r["drill_standing"]["round"] is None for r in october.to_dict()["rows"]} == {True}  # October had none
