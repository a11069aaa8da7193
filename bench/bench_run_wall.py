"""Run wall time vs the slowest single check: proof that checks run concurrently.

Against the real local stack (PostgreSQL demo database + Azurite): every configured check is
first timed alone, then all run together in one run. wall/slowest near 1 means the run costs
what its slowest check costs; wall/sum shows what a serial runner would have cost.
Goal: wall/slowest ≤ 1.3.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks.config import Settings  # noqa: E402
from checks.context import RunContext  # noqa: E402
from checks.model import Status  # noqa: E402
from checks.registry import select  # noqa: E402
from checks.runner import execute, run_checks  # noqa: E402
from devtools.demo import demo_env  # noqa: E402
from devtools.localstack import DEMO_SQL, Azurite, PostgresCluster  # noqa: E402


def main(reps: int = 5) -> dict:
    cluster = PostgresCluster.start()
    azurite = Azurite.start()
    try:
        cluster.create_database("medicapp", DEMO_SQL)
        env = demo_env(cluster, azurite) | {"BLOB_CONNECTION_STRING": azurite.connection_string}
        settings = Settings.from_env(env)
        specs = [s for s in select() if s.read_only]
        # warm-up: first connections, imports
        run_checks(specs, RunContext(settings=settings), "cli")
        walls, slowest, sums = [], [], []
        for _ in range(reps):
            alone = {}
            for spec in specs:
                ctx = RunContext(settings=settings)
                t0 = time.perf_counter()
                execute(spec, ctx)
                alone[spec.id] = time.perf_counter() - t0
                ctx.close()
            ctx = RunContext(settings=settings)
            t0 = time.perf_counter()
            run = run_checks(specs, ctx, "cli")
            walls.append(time.perf_counter() - t0)
            ctx.close()
            slowest.append(max(alone.values()))
            sums.append(sum(alone.values()))
        active = [r.check_id for r in run.results if r.status is not Status.SKIPPED]
        wall, slow, total = statistics.median(walls), statistics.median(slowest), statistics.median(sums)
        print(f"{len(specs)} read-only checks ({len(active)} not skipped: {', '.join(active)}), median of {reps}:")
        print(f"  run wall {wall * 1000:.1f} ms, slowest check alone {slow * 1000:.1f} ms, "
              f"sum of checks alone {total * 1000:.1f} ms")
        print(f"  wall/slowest = {wall / slow:.2f} (goal ≤ 1.3); wall/sum = {wall / total:.2f}")
        return {"wall_ms": round(wall * 1000, 1), "slowest_ms": round(slow * 1000, 1),
                "ratio_wall_over_slowest": round(wall / slow, 2), "ratio_wall_over_sum": round(wall / total, 2)}
    finally:
        azurite.stop()
        cluster.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
