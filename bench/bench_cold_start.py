"""Cold start: `import function_app` in fresh processes, lazy SDKs (ours) vs all seven SDKs eager.

Both are measured in the same run, interleaved, so the machine's noise hits them alike; the
ratio is the figure to read. Goal: function_app's own import ≤ 150 ms.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("azure.functions", "azure.identity", "azure.mgmt.postgresqlflexibleservers", "azure.mgmt.storage",
        "azure.storage.blob", "psycopg", "azure.data.tables")

PROBE = """
import time, sys
t0 = time.perf_counter()
{pre}
t1 = time.perf_counter()
import function_app
t2 = time.perf_counter()
loaded = [m for m in {sdks!r} if m in sys.modules]
print(f"{{(t1-t0)*1000:.1f}} {{(t2-t0)*1000:.1f}} {{(t2-t1)*1000:.1f}} {{len(loaded)}}")
"""


def measure(pre: str, reps: int) -> list[tuple[float, float, float, int]]:
    code = PROBE.format(pre=pre, sdks=SDKS)
    out = []
    for _ in range(reps):
        text = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.split()
        out.append((float(text[0]), float(text[1]), float(text[2]), int(text[3])))
    return out


def main(reps: int = 7) -> dict:
    scenarios = {
        "lazy (ours)": "",
        "worker (azure.functions preloaded)": "import azure.functions",
        "eager: all seven SDKs": "\n".join(f"import {m}" for m in SDKS),
    }
    samples = {name: [] for name in scenarios}
    for _ in range(reps):  # interleave: noise hits every scenario alike
        for name, pre in scenarios.items():
            samples[name].extend(measure(pre, 1))
    rows = {}
    for name, values in samples.items():
        total = statistics.median(v[1] for v in values)
        app_only = statistics.median(v[2] for v in values)
        rows[name] = {"total_ms": round(total, 1), "function_app_after_pre_ms": round(app_only, 1),
                      "sdks_loaded": values[0][3]}
    lazy, eager = rows["lazy (ours)"]["total_ms"], rows["eager: all seven SDKs"]["total_ms"]
    print(f"Cold import, median of {reps} fresh processes each:")
    for name, row in rows.items():
        print(f"  {name:<38} total {row['total_ms']:>7.1f} ms   function_app part {row['function_app_after_pre_ms']:>6.1f} ms"
              f"   SDKs in sys.modules: {row['sdks_loaded']}/7")
    print(f"  ratio lazy/eager = {lazy / eager:.2f}  (eager costs {eager - lazy:.0f} ms more)")
    worker = rows["worker (azure.functions preloaded)"]["function_app_after_pre_ms"]
    print(f"  function_app on top of the worker's azure.functions: {worker:.1f} ms (goal ≤ 150 ms)")
    return {"rows": rows, "ratio_lazy_over_eager": round(lazy / eager, 2)}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
