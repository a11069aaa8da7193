"""All benchmarks in one go (`make bench`). The 10M-row count benchmark builds a big table: opt in with --big."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

scripts = ["bench_cold_start.py", "bench_run_wall.py", "bench_changefeed.py", "bench_fleet.py"]
if "--big" in sys.argv and (HERE / "bench_counts.py").exists():
    scripts.append("bench_counts.py")
for script in scripts:
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)
