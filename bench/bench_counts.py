"""database.essential_counts on a 10-million-row table vs a 10-thousand-row table.

Not part of the test suite (building the big table takes a while). Starts a throwaway PostgreSQL
cluster (devtools/localstack.PostgresCluster), builds both tables with one generate_series
INSERT each (unlogged), ANALYZEs them, then times the check itself (connect + count) several times
per table and prints the medians and their ratio. Goal: ratio <= 2 — the big table is above
EXACT_COUNT_MAX_ROWS, so the planner's estimate is used instead of a full scan. For contrast it
also times an exact count(*) of the big table. Stops the cluster by PID at the end.

    .venv/bin/python bench/bench_counts.py [--rows 10000000] [--repeat 7]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks.engine.config import Settings  # noqa: E402
from checks.engine.context import RunContext  # noqa: E402
from checks.engine.model import Status  # noqa: E402
from checks.engine.registry import select  # noqa: E402
from checks.engine.runner import execute  # noqa: E402
from devtools.localstack import PostgresCluster  # noqa: E402


def time_check(url: str, table: str, repeat: int, **env: str) -> tuple[float, dict]:
    spec = select(["database.essential_counts"])[0]
    settings = Settings.from_env({"DATABASE_URL": url, "ESSENTIAL_TABLES": f"public.{table}>=1",
                                  "DB_STATEMENT_TIMEOUT_MS": "600000", **env})
    times, outcome = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        outcome = execute(spec, RunContext(settings=settings))
        times.append(time.perf_counter() - t0)
        if outcome.status is not Status.PASS:
            raise SystemExit(f"unexpected {outcome.status.value}: {outcome.summary}")
    return statistics.median(times), outcome.details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    cluster = PostgresCluster.start()
    try:
        cluster.create_database("bench")
        t0 = time.perf_counter()
        cluster.execute(f"create unlogged table big as select g::bigint as id, (g % 1000)::int as v "
                        f"from generate_series(1, {args.rows}) g;"
                        f"create unlogged table small as select g::bigint as id, (g % 1000)::int as v "
                        f"from generate_series(1, {args.small}) g;"
                        "analyze big; analyze small;", "bench")
        build = time.perf_counter() - t0
        url = cluster.admin_url("bench")
        small_s, small_d = time_check(url, "small", args.repeat)
        big_s, big_d = time_check(url, "big", args.repeat)
        exact_s, exact_d = time_check(url, "big", max(1, args.repeat // 3), EXACT_COUNT_MAX_ROWS="1000000000")
        figures = {
            "rows_big": args.rows, "rows_small": args.small, "build_seconds": round(build, 1),
            "small_ms": round(small_s * 1000, 1), "small_method": small_d["methods"],
            "big_ms": round(big_s * 1000, 1), "big_method": big_d["methods"], "big_counts": big_d["counts"],
            "ratio": round(big_s / small_s, 2),
            "big_exact_ms": round(exact_s * 1000, 1), "big_exact_counts": exact_d["counts"],
        }
        print(f"built {args.rows:,} + {args.small:,} rows in {build:.1f} s")
        print(f"essential_counts small ({args.small:,} rows, {small_d['methods']['public.small']}): "
              f"{figures['small_ms']} ms (median of {args.repeat})")
        print(f"essential_counts big   ({args.rows:,} rows, {big_d['methods']['public.big']}): "
              f"{figures['big_ms']} ms (median of {args.repeat}), counted {big_d['counts']['public.big']:,}")
        print(f"ratio big/small: {figures['ratio']} (goal <= 2)")
        print(f"for contrast, exact count(*) of the big table: {figures['big_exact_ms']} ms")
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_counts.json").write_text(json.dumps(figures, indent=2))
        return 0 if figures["ratio"] <= 2 else 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
