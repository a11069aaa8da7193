"""Fleet fan-out: N simulated targets through the fleet queue to W concurrent workers.

Each target is a real run (checks.service.verify with the target's own settings, run lease, journal
transaction) of every read-only check: the database checks against one local PostgreSQL database
shared by all targets, the PostgreSQL and Storage management checks through the real SDK clients over
a canned transport answering Azure's official examples after a simulated ARM round trip
(ARM_LATENCY_MS, default 150 ms per request). The messages go through Azurite's queue: the timer's
fan-out (checks/queue_face.fan_out) enqueues them and devtools/queue_host.py plays the Functions host
with W concurrent executions, each calling the deployed handler (claim, then the run, whose journal
transaction also marks the message done).

  single-target wall  median time of one queued target alone, from the host's receive to its delete of the
                      message (claim + run + journal): the fleet's wall also holds the polls that find the
                      queue empty and starting the worker processes
  efficiency          (N x single-target wall) / (W x fleet wall); goal >= 0.8 at W = 16
  journal writes      submit_transaction calls (one per run = N; more when runs of the month raced for the
                      hash chain's head and one retried) and the reservation and claim writes beside them
  month read          Table queries (and HTTP pages) to read the month's journal for every target
  CPU floor           the round's CPU (verifier processes and Azurite, which stands in for Azure's storage
                      service on the same cores) divided by the machine's cores: no wall can be shorter

The I/O-bound part: the same handler, queue and journal transaction around runs that only wait, as a
target's run waits on ARM and PostgreSQL (first as long as a real run, then BENCH_FLEET_LONGER times as
long at the largest W).

Both parts run W concurrent executions as Azure does: each Functions instance is its own process
running host.json's batch of messages at once, so W = 16 is 4 processes of 4 concurrent executions
(devtools/queue_host.py serve).

Clearly a simulation of Azure's latency; the Functions host's own polling and scale-out delays are
not in it (see docs/fleet.md for the platform's limits). N and W: BENCH_FLEET_N,
BENCH_FLEET_WORKERS (default 200 and 1,4,16).
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the canned transport (test tooling, never shipped)
sys.path.insert(0, str(ROOT / "bench"))

from bench_run_wall import ARM_LATENCY_MS, SUB, SlowTransport  # noqa: E402
from checks.engine.config import Settings  # noqa: E402
from devtools.demo import demo_env  # noqa: E402
from devtools.localstack import DEMO_SQL, Azurite, PostgresCluster  # noqa: E402
from devtools.queue_host import LocalQueueHost  # noqa: E402


class Counter:
    """Counts calls of a TableClient method (the bench's own instrumentation, not the product's)."""

    def __init__(self, cls, name: str):
        self.cls, self.name, self.calls, self.lock = cls, name, 0, threading.Lock()
        self.original = getattr(cls, name)
        counter = self

        def counted(self, *args, **kwargs):
            with counter.lock:
                counter.calls += 1
            return counter.original(self, *args, **kwargs)
        setattr(cls, name, counted)

    def reset(self) -> int:
        calls, self.calls = self.calls, 0
        return calls


def fleet_env(base: dict[str, str], n: int) -> dict[str, str]:
    targets = [{"name": f"t{i:03d}", "postgres": {"subscription": SUB, "resource_group": "rg",
                                                  "server": f"medicapp-db-{i:03d}", "host": "127.0.0.1",
                                                  "database": "medicapp"}} for i in range(n)]
    return base | {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": "rg", "PG_SERVER_NAME": "medicapp-db",
                   "STORAGE_RESOURCE_GROUP": "rg", "STORAGE_ACCOUNT_NAME": "medicappdocs",
                   "TARGETS": json.dumps(targets), "RUN_LEASE_SECONDS": "60", "LOG_LEVEL": "error"}


def handler_for(settings: Settings, latency: float, check_ids: list[str]):
    """The deployed handler with the bench's run: real verify, canned ARM after `latency`."""
    from azure_fakes import StaticCredential
    from checks.dispatch.handler import handle_message
    from checks.engine.context import RunContext
    from checks.journal.store import Journal
    from checks.service import RunRequest, verify

    journal = Journal.from_settings(settings)

    def run_target(target, message, requested_by):
        target_settings = target.settings_for(settings)
        ctx = RunContext(settings=target_settings, credential=StaticCredential(),
                         azure_kwargs={"transport": SlowTransport.build(latency), "retry_total": 0})
        return verify(RunRequest(trigger=message.trigger, checks=check_ids, origin=message.origin,
                                 requested_by=requested_by), target_settings, journal, ctx=ctx)

    return lambda body, count: handle_message(body, count, settings, journal, run_target)


def waiting_handler_for(settings: Settings, wait: float, check_ids: list[str]):
    """The I/O-bound part alone: the deployed handler (claim, then the journal transaction that marks it done) around a run
    that only waits `wait` seconds, as a target's run waits on ARM and PostgreSQL, with as many results."""
    from checks.dispatch.handler import handle_message
    from checks.engine.model import CheckResult, Run, Severity, Status, new_run_id
    from checks.engine.target import Target
    from checks.engine.timeutil import utcnow
    from checks.journal.store import Journal

    journal = Journal.from_settings(settings)

    def run_target(target, message, requested_by):  # the caller of its reservation: the timer's here
        started = utcnow()
        time.sleep(wait)
        done = utcnow()
        results = [CheckResult(c, c, Status.PASS, Severity.MEDIUM, "ok", {}, "", started, int(wait * 1000))
                   for c in check_ids]
        run = Run(new_run_id(started), message.trigger, started, done, results, target=Target(name=target.name),
                  origin=message.origin, requested_by=requested_by)
        journal.write_run(run)
        run.journal_status = "written"
        return run

    return lambda body, count: handle_message(body, count, settings, journal, run_target)


def one_round(azurite: Azurite, env: dict[str, str], latency: float, check_ids: list[str], workers: int,
              only: int | None = None, wait: float | None = None) -> dict:
    """Fresh queue and journal table; fan out (all targets, or the first `only`); drain with `workers`."""
    from checks.queue_face import fan_out

    env = env | {"FLEET_QUEUE": "bench" + uuid.uuid4().hex[:12], "JOURNAL_TABLE": "B" + uuid.uuid4().hex[:16]}
    settings = Settings.from_env(env)
    host = LocalQueueHost(azurite.connection_string, settings.fleet_queue, visibility_timeout=300)
    host.create_queues()
    from checks.journal.store import Journal
    journal = Journal.from_settings(settings)
    journal.ensure_table()
    names = [t.name for t in settings.targets][:only] if only else ()
    fan_out(settings, trigger="timer", names=names, journal=journal)
    t0, cpu0, children0, storage0 = time.perf_counter(), time.process_time(), children_cpu(), proc_cpu(azurite.proc)
    make_handler = (lambda: handler_for(settings, latency, check_ids)) if wait is None else (
        lambda: waiting_handler_for(settings, wait, check_ids))
    delivered = drain_in_processes(host, make_handler, workers)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0 + children_cpu() - children0
    return {"wall": wall, "cpu": cpu, "storage_cpu": proc_cpu(azurite.proc) - storage0, "delivered": delivered,
            "errors": host.errors, "deliveries": host.deliveries, "journal": journal, "settings": settings}


def children_cpu() -> float:
    """CPU seconds of the worker processes this process has waited for (the rounds' instances)."""
    times = os.times()
    return times.children_user + times.children_system


def proc_cpu(proc) -> float:
    """CPU seconds used so far by a running child (Azurite: the storage service, on the same two cores here)."""
    with open(f"/proc/{proc.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


COUNTED: list = []  # the TableClient counters of main(), summed over worker processes too


def instances_for(workers: int) -> tuple[list[int], int]:
    """(executions of each instance, new batch threshold): W concurrent executions as the host makes them,
    host.json's batchSize per instance (the last instance may run fewer), its newBatchThreshold."""
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    per = min(workers, queues["batchSize"])
    return [per] * (workers // per) + ([workers % per] if workers % per else []), queues["newBatchThreshold"]


def drain_in_processes(host: LocalQueueHost, make_handler, workers: int) -> int:
    """W concurrent executions as Azure makes them: one OS process per instance, each running host.json's batch
    of messages at once (W = 16: 4 instances of batchSize 4). Each child builds its handler and clients after
    the fork and sends back what it delivered and counted.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    shares, threshold = instances_for(workers)

    def child(executions: int) -> None:
        for counter in COUNTED:
            counter.reset()
        handler = make_handler()
        own = LocalQueueHost(host.connection_string, host.queue_name, visibility_timeout=host.visibility_timeout)
        delivered = own.serve(handler, executions, min(threshold, executions - 1))
        answers.put((delivered, own.errors, own.deliveries, [c.calls for c in COUNTED]))

    processes = [context.Process(target=child, args=(n,), name=f"instance-{i}") for i, n in enumerate(shares)]
    for process in processes:
        process.start()
    delivered = 0
    for _ in processes:
        got, errors, deliveries, calls = answers.get()
        delivered += got
        host.errors.extend(errors)
        host.deliveries.extend(deliveries)
        for counter, n in zip(COUNTED, calls):
            counter.calls += n
    for process in processes:
        process.join()
    return delivered


def fleet_row(result: dict, n: int, single: float, workers: int, counters: tuple, wait: float | None = None) -> dict:
    """One round's figures. The CPU floor: the round's CPU (verifier processes + Azurite) spread over every core
    of this machine, the shortest wall it allows; `bound` is the efficiency that floor leaves possible."""
    transactions, creates, updates, upserts = (c.reset() for c in counters)
    cpu = result["cpu"] + result["storage_cpu"]
    floor = max(cpu / (os.cpu_count() or 1), n * single / workers)
    return {"workers": workers, "wait_s": wait, "single_s": round(single, 3), "wall_s": round(result["wall"], 2),
            "delivered": result["delivered"], "errors": len(result["errors"]),
            "error_kinds": sorted({e[:120] for e in result["errors"]})[:3],
            "throughput_per_min": round(n / result["wall"] * 60, 1),
            "efficiency": round(n * single / (workers * result["wall"]), 2), "cpu_s": round(result["cpu"], 1),
            "storage_cpu_s": round(result["storage_cpu"], 1), "cpu_ms_per_target": round(cpu / n * 1000),
            "cpu_floor_s": round(floor, 1), "bound": round(min(1.0, n * single / (workers * floor)), 2),
            "run_transactions": transactions, "claim_writes": creates + updates + upserts,
            "result": result}


def month_read(journal, month: str, n: int, pages: Counter, queries: Counter, settings: Settings) -> dict:
    """Reading the month for every target: the journal's own read paths, counted."""
    pages.reset(), queries.reset()
    runs = journal.list_runs(month)
    list_runs = {"queries": queries.reset(), "pages": pages.reset(), "runs": len(runs),
                 "targets": len({r["target"]["name"] for r in runs if r["target"]})}
    rows = journal.partition(month)
    partition = {"queries": queries.reset(), "pages": pages.reset(), "entities": len(rows)}
    overview = fleet_overview_queries(journal, month, pages, queries, settings)
    return {"list_runs": list_runs, "partition": partition, "overview": overview, "expected_targets": n}


def fleet_overview_queries(journal, month: str, pages: Counter, queries: Counter, settings: Settings) -> dict | None:
    """The fleet overview of checks/report/fleet.py (targets x checklist boxes), when it is on this branch."""
    try:
        from checks.report.fleet import fleet_overview
    except ImportError:
        return None
    pages.reset(), queries.reset()
    fleet_overview(journal, month, settings)
    return {"queries": queries.reset(), "pages": pages.reset()}


def main() -> dict:
    from azure.core.pipeline.transport import RequestsTransport
    from azure.data.tables import TableClient
    from checks.engine.registry import select
    from checks.engine.timeutil import this_month

    # the product's own logs would drown the figures (a journal write an overloaded Azurite resets logs the whole
    # run, as it must in Azure): their effect shows in the table, as run transactions above N
    logging.getLogger("checks").setLevel(logging.CRITICAL)
    n = int(os.environ.get("BENCH_FLEET_N", 200))
    worker_counts = [int(w) for w in os.environ.get("BENCH_FLEET_WORKERS", "1,4,16").split(",")]
    latency = float(os.environ.get("ARM_LATENCY_MS", ARM_LATENCY_MS)) / 1000
    transactions, queries = Counter(TableClient, "submit_transaction"), Counter(TableClient, "query_entities")
    # the fan-out reserves each message (create), its delivery claims the reservation (conditional replace)
    creates, updates = Counter(TableClient, "create_entity"), Counter(TableClient, "update_entity")
    upserts = Counter(TableClient, "upsert_entity")
    pages = Counter(RequestsTransport, "send")
    cluster, fresh = PostgresCluster.start(), None
    try:
        cluster.create_database("medicapp", DEMO_SQL)
        fresh = FreshAzurite(cluster, n)
        check_ids = [s.id for s in select() if s.read_only]
        single, single_cpu = single_target(fresh, latency, check_ids)
        counters = (transactions, creates, updates, upserts)
        COUNTED[:] = counters
        waited = waited_rows(fresh, latency, check_ids, single, worker_counts, n, counters)
        rows = [fleet_row(fresh.round(latency, check_ids, w), n, single, w, counters) for w in worker_counts]
        last = rows[-1].pop("result")
        for row in rows[:-1] + waited:
            row.pop("result", None)
        read = month_read(last["journal"], this_month(), n, pages, queries, last["settings"])
        report(n, latency, len(check_ids), single, single_cpu, rows, waited, read)
        return {"n": n, "single_s": single, "rows": rows, "io_rows": waited, "read": read}
    finally:
        if fresh:
            fresh.close()
        cluster.stop()


SINGLES = 6  # targets delivered one after the other to one worker for the single-target wall (the first warms up)


def single_target(fresh: "FreshAzurite", latency: float, check_ids: list[str], wait: float | None = None
                  ) -> tuple[float, float]:
    """(single-target wall, CPU per target): SINGLES targets through one worker, each alone while it runs; the
    median time from the host's receive to its delete, leaving out the first (new connections, table check).
    On a new Azurite warmed up by a first such round: a new Node.js process is slow until its JIT has run,
    which the fleet rounds spread over N targets."""
    fresh.round(latency, check_ids, 1, only=SINGLES, wait=wait, reuse=False)
    result = fresh.round(latency, check_ids, 1, only=SINGLES, wait=wait, reuse=True)
    return statistics.median(result["deliveries"][1:]), result["cpu"] / SINGLES


def waited_rows(fresh: "FreshAzurite", latency: float, check_ids: list[str], single: float, worker_counts: list[int],
                n: int, counters: tuple) -> list[dict]:
    """The I/O-bound part: runs that wait `single` (a real target's wall) at each W, then runs that wait longer
    (BENCH_FLEET_LONGER multiples, default 2 and 3) at the largest W. Each row's efficiency is against its own
    single-target wall: such waiting targets alone through the same queue, claim and journal (single_target)."""
    longer = [float(k) for k in os.environ.get("BENCH_FLEET_LONGER", "2,3").split(",") if k]
    plan = [(single, w) for w in worker_counts] + [(single * k, max(worker_counts)) for k in longer]
    rows, alone = [], {}
    for wait, workers in plan:
        if wait not in alone:
            alone[wait] = single_target(fresh, latency, check_ids, wait)[0]
        for counter in counters:  # from here on each fleet_row reads what its own round wrote
            counter.reset()
        rows.append(fleet_row(fresh.round(latency, check_ids, workers, wait=wait), n, alone[wait], workers,
                              counters, wait))
        rows[-1].pop("result")
    return rows


class FreshAzurite:
    """A new Azurite for each fleet round: Azurite keeps every table in one in-memory database that it saves
    to disk as a whole, so on a shared Azurite a round's speed would depend on the rounds before it."""

    def __init__(self, cluster: PostgresCluster, n: int):
        self.cluster, self.n, self.azurite, self.env = cluster, n, None, {}

    def round(self, latency: float, check_ids: list[str], workers: int, only: int | None = None,
              wait: float | None = None, reuse: bool = False) -> dict:
        if not (reuse and self.azurite):
            self.close()
            self.azurite = Azurite.start(in_memory=True)  # the emulator's disk saves are not what we measure
            self.env = fleet_env(demo_env(self.cluster, self.azurite)
                                 | {"BLOB_CONNECTION_STRING": self.azurite.connection_string}, self.n)
        return one_round(self.azurite, self.env, latency, check_ids, workers, only, wait)

    def close(self) -> None:
        if self.azurite:
            self.azurite.stop()
            self.azurite = None


def report(n: int, latency: float, checks: int, single: float, single_cpu: float, rows: list[dict],
           waited: list[dict], read: dict) -> None:
    print(f"fleet of {n} simulated targets, {checks} read-only checks each, ARM simulated at "
          f"{latency * 1000:.0f} ms per request, one shared PostgreSQL database, Azurite queue + journal")
    print(f"  single target through the queue (median of {SINGLES - 1}, receive to delete): {single * 1000:.0f} ms wall, "
          f"{single_cpu * 1000:.0f} ms CPU of the verifier's processes (on {os.cpu_count()} cores shared with Azurite and PostgreSQL)")
    for title, table in (("real runs (checks, lease, journal)", rows), ("I/O-bound part: runs that only wait", waited)):
        print(f"  {title}")
        print("  workers  wait s  single s  fleet wall  throughput      efficiency  CPU/target  CPU floor  bound"
              "  run transactions  claim writes  errors")
        for r in table:
            wait = f"{r['wait_s']:.2f}" if r["wait_s"] else "-"
            print(f"  {r['workers']:>7}  {wait:>6}  {r['single_s']:>8.3f}  {r['wall_s']:>8.1f} s  "
                  f"{r['throughput_per_min']:>7.1f} /min  {r['efficiency']:>10.2f}  {r['cpu_ms_per_target']:>7} ms  "
                  f"{r['cpu_floor_s']:>7.1f} s  {r['bound']:>5.2f}  {r['run_transactions']:>16}  "
                  f"{r['claim_writes']:>12}  {r['errors']:>6}")
    print("  CPU/target: verifier processes + Azurite (the storage service, here on the same cores); CPU floor: that CPU "
          f"over {os.cpu_count()} cores, the shortest wall this machine allows; bound: the efficiency it leaves possible")
    for r in rows + waited:
        for kind in r["error_kinds"]:
            print(f"  retried delivery at {r['workers']} workers (the host delivers it again): {kind}")
    lr, part, ov = read["list_runs"], read["partition"], read["overview"]
    print(f"  month read: list_runs = {lr['queries']} query ({lr['pages']} HTTP pages) for {lr['runs']} runs of "
          f"{lr['targets']} targets; whole month partition = {part['queries']} query ({part['pages']} pages, "
          f"{part['entities']} entities)"
          + (f"; fleet overview = {ov['queries']} query ({ov['pages']} pages)" if ov else
             "; fleet overview: not on this branch (checks/report)"))
    print("  goal: efficiency >= 0.8 at 16 workers; run transactions = N; month read = 1 query")


if __name__ == "__main__":
    main()
