"""`make demo`: real PostgreSQL with the demo database + Azurite, every check they can back.

Runs `python -m checks` exactly as a user would: the database checks and the blob data-plane
checks (`blob.recent_file`, `blob.deleted_visible` on the `documents` container) against the
local services; the management-plane checks are skipped, each naming what it needs. Writes the
journal's linked pages (`report --site demo-output/site`: overview, months, runs) and prints the path
of their index and of this month's checklist; every link of the site leads to a page it holds.

    python devtools/demo.py           # throwaway services on free ports, stopped at the end
    python devtools/demo.py --keep    # = make demo KEEP=1: the `make stack` services, left running
    python devtools/demo.py --fleet 2 # = make demo FLEET=2: two local targets (docs/fleet.md)
    python devtools/demo.py --output DIR  # the pages under DIR/site instead of demo-output/site
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checks.engine.config import VARIABLES  # noqa: E402
from devtools import stack  # noqa: E402
from devtools.localstack import Azurite, PostgresCluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "demo-output"
# what a real subscription adds (docs/getting-started.md, "Against a real subscription"): passed through when set
AZURE_TARGET = ("AZURE_SUBSCRIPTION_ID", "PG_RESOURCE_GROUP", "PG_SERVER_NAME", "STORAGE_RESOURCE_GROUP",
                "STORAGE_ACCOUNT_NAME")


def demo_env(cluster: PostgresCluster, azurite: Azurite, spool_dir: str | None = None) -> dict[str, str]:
    """The verifier's variables for these services: the sample's, pointed at their ports, with its
    own spool (a fresh temporary folder), never a user's pending runs."""
    spool = Path(spool_dir or tempfile.mkdtemp(prefix="medicapp-demo-spool-"))
    values = stack.settings_document(cluster.port, _ports(azurite), spool)
    return {k: v for k, v in values["Values"].items() if v != ""}


def _ports(azurite: Azurite) -> tuple[int, int, int]:
    return azurite.blob_port, azurite.queue_port, azurite.table_port


def clean_environ() -> dict[str, str]:
    """The caller's environment without verifier or libpq variables (they would win over the
    settings file), except the Azure target, which turns the management-plane checks on."""
    ours = {var.name for _, var in VARIABLES}
    return {k: v for k, v in os.environ.items()
            if k in AZURE_TARGET or (k not in ours and not k.startswith("PG") and k != "DATABASE_URL")}


def cli(args: list[str], settings: Path | None, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    shown = ["python", "-m", "checks", *args]
    print(f"\n$ {shlex.join(shown)}", flush=True)
    prefix = ["--settings", str(settings)] if settings else []
    return subprocess.run([sys.executable, "-m", "checks", *prefix, *args], cwd=ROOT, env=env, **kwargs)


def show(settings: Path | None, fleet: int = 1) -> int:
    """The demo's commands; returns the run's exit code (the site's when it could not be written). A
    fleet: its targets, then a run of all of them (progress per target and the fleet summary)."""
    env = clean_environ()
    cli(["targets"] if fleet > 1 else ["list"], settings, env)
    run = cli(["run"], settings, env)
    cli(["journal"], settings, env)
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    site = OUTPUT / "site"
    _clear(site)
    shown = site.relative_to(ROOT) if site.is_relative_to(ROOT) else site
    report = cli(["report", "--site", str(shown), "--month", month], settings, env)
    if report.returncode != 0:
        return report.returncode
    checklist = site / (f"fleet-{month}.html" if fleet > 1 else f"month-{month}.html")
    print(f"\nReport pages written to {site / 'index.html'}\nThis month's checklist: {checklist}\n"
          "(boxes that need Azure evidence stay unticked locally: see docs/getting-started.md, 'Against a real subscription')")
    return run.returncode


def _clear(site: Path) -> None:
    """A fresh site: the pages of an earlier demo (another, throwaway journal) and the single-page
    checklists older demos wrote next to it (their links led nowhere) are removed."""
    for old in OUTPUT.glob("checklist-*.html"):
        old.unlink()
    if site.is_dir():
        shutil.rmtree(site)


def output_arg(argv: list[str]) -> Path:
    """`--output DIR`: where the demo's pages go (DIR/site); demo-output/ without it."""
    if "--output" not in argv:
        return OUTPUT
    value = (argv[argv.index("--output") + 1:] or [""])[0]
    if not value or value.startswith("--"):
        raise ValueError("--output: expected a folder, e.g. --output /tmp/demo")
    return Path(value).resolve()


def main(argv: list[str]) -> int:
    global OUTPUT
    try:
        fleet = stack.fleet_arg(argv)
        stack.fleet_parts(fleet)
        OUTPUT = output_arg(argv)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "--keep" in argv:
        state = stack.read_state()
        if state and stack.alive(state):
            print("Using the running local stack:\n" + stack.describe(state))
        else:
            print("Starting PostgreSQL and Azurite on their fixed ports (make stack)...", flush=True)
            state = stack.start(fleet=fleet)
            print(stack.describe(state))
        code = show(None, fleet)  # as the user will: ./local.settings.json, no flags
        print("\nStill running: go on with `. .venv/bin/activate` and `python -m checks ...`; "
              "`make stop` stops both.")
        return code
    print("Starting a throwaway PostgreSQL cluster and Azurite on free ports...", flush=True)
    with tempfile.TemporaryDirectory(prefix="verifier-demo-") as folder:
        cluster, azurite = stack.start_services(Path(folder), None, None, fleet)
        try:
            settings = Path(folder) / "local.settings.json"
            document = stack.settings_document(cluster.port, _ports(azurite), Path(folder) / "spool", fleet)
            stack.write_settings(settings, document, Path(folder))
            print(f"PostgreSQL on 127.0.0.1:{cluster.port}, Azurite blob/table on 127.0.0.1:"
                  f"{azurite.blob_port}/{azurite.table_port}", flush=True)
            return show(settings, fleet)
        finally:
            azurite.stop()
            cluster.stop()
            print("Stopped PostgreSQL and Azurite (`make demo KEEP=1` leaves them running).")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
