"""`make stack` / `make stop`: PostgreSQL (demo database) and Azurite left running for the CLI.

    python devtools/stack.py start    # PostgreSQL on 127.0.0.1:55432, Azurite on 10000-10002
    python devtools/stack.py status
    python devtools/stack.py stop     # stops both by the PIDs recorded at start, removes their data

`start` writes `local.settings.json` (the Functions host's file, which `python -m checks` also
reads): the Values of local.settings.sample.json, which point at exactly these fixed ports. A
`local.settings.json` that the stack did not write is kept as `local.settings.json.bak-<time>`.
The state (ports, PIDs, folders) is in `.devstack/stack.json`; nothing is stopped by name.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.localstack import (AZURITE_ACCOUNT, AZURITE_KEY, DEMO_SQL, Azurite,  # noqa: E402
                                 PostgresCluster)

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = ROOT / ".devstack"
SETTINGS_FILE = ROOT / "local.settings.json"
SAMPLE_FILE = ROOT / "local.settings.sample.json"
# Fixed, documented ports: Azurite's own defaults (what UseDevelopmentStorage=true and Azure Storage
# Explorer's "Local storage emulator" connect to) and a PostgreSQL port clear of a system cluster's 5432.
PG_PORT = 55432
AZURITE_PORTS = (10000, 10001, 10002)
DEMO_PASSWORD = "verifier-demo-pw"  # the demo database's SELECT-only login (devtools/demo_db.sql)
DEMO_CONTAINER = "documents"


@dataclass
class StackState:
    folder: str
    pg_folder: str
    pg_port: int
    pg_pid: int
    azurite_ports: tuple[int, int, int]
    azurite_pid: int
    settings_file: str
    started_at: str


def connection_values(pg_port: int = PG_PORT, azurite_ports: tuple[int, int, int] = AZURITE_PORTS) -> dict[str, str]:
    """The variables that point the verifier at the stack (the sample holds these for the fixed ports)."""
    if tuple(azurite_ports) == AZURITE_PORTS:
        storage = "UseDevelopmentStorage=true"
    else:
        blob, queue, table = azurite_ports
        base = "http://127.0.0.1"
        storage = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                   f"BlobEndpoint={base}:{blob}/{AZURITE_ACCOUNT};QueueEndpoint={base}:{queue}/{AZURITE_ACCOUNT};"
                   f"TableEndpoint={base}:{table}/{AZURITE_ACCOUNT};")
    return {"AzureWebJobsStorage": storage, "BLOB_CONNECTION_STRING": storage, "FleetQueue": storage,
            "DATABASE_URL": f"postgresql://verifier:{DEMO_PASSWORD}@127.0.0.1:{pg_port}/medicapp"}


def settings_document(pg_port: int = PG_PORT, azurite_ports: tuple[int, int, int] = AZURITE_PORTS,
                      spool_dir: Path | None = None, fleet: int = 1) -> dict:
    """The sample's Values pointed at these ports; `spool_dir`: the stack's own outage spool, so a
    throwaway journal never meets a real deployment's pending runs. `fleet` > 1: TARGETS lists
    the local targets (fleet_targets)."""
    document = json.loads(SAMPLE_FILE.read_text())
    document["Values"].update(connection_values(pg_port, azurite_ports))
    if spool_dir is not None:
        document["Values"]["VERIFIER_SPOOL_DIR"] = str(spool_dir)
    if fleet > 1:
        document["Values"]["TARGETS"] = json.dumps(fleet_targets(fleet))
    return document


def fleet_parts(fleet: int) -> list[tuple[str, str, str]]:
    """(target name, database, container) of each local target: medicapp/documents, then
    medicapp-b/medicapp_b/documents-b, ... (FLEET=N: 1 to 9)."""
    if not 1 <= fleet <= 9:
        raise ValueError(f"FLEET: expected 1 to 9 local targets, got {fleet}")
    suffixes = [""] + [chr(ord("b") + i) for i in range(fleet - 1)]
    return [("medicapp" + (f"-{x}" if x else ""), "medicapp" + (f"_{x}" if x else ""),
             DEMO_CONTAINER + (f"-{x}" if x else "")) for x in suffixes]


def fleet_targets(fleet: int) -> list[dict]:
    """TARGETS for the local targets: one server and one Azurite account, a database and a container each."""
    return [{"name": name, "postgres": {"database": database}, "storage": {"containers": [container]},
             "settings": {"SIGNED_DOCUMENT_CONTAINER": container}} for name, database, container in fleet_parts(fleet)]


def upload_signed_documents(cluster: PostgresCluster, connection_string: str, container: str = DEMO_CONTAINER,
                            database: str = "medicapp") -> None:
    """The demo's signed documents' files into Azurite (content as described in demo_db.sql)."""
    import psycopg
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    if not client.exists():
        client.create_container()
    with psycopg.connect(cluster.admin_url(database)) as conn:
        for path, title in conn.execute("select blob_path, title from documents where signed"):
            client.upload_blob(path, f"MedicApp demo file for {title}".encode(), overwrite=True)


def create_fleet_queues(connection_string: str, name: str = "verifier-fleet") -> None:
    """The fleet queue and its poison queue (infra/modules/storage.bicep creates them in Azure; the app never does)."""
    from devtools.queue_host import LocalQueueHost
    LocalQueueHost(connection_string, name).create_queues()


def start_services(folder: Path, pg_port: int | None, azurite_ports: tuple[int, int, int] | None,
                   fleet: int = 1) -> tuple[PostgresCluster, Azurite]:
    """PostgreSQL with the demo database and Azurite with the demo container (one of each per local
    target, seeded alike); stops both on failure."""
    parts = fleet_parts(fleet)
    # its own temporary folder: as root the cluster runs as `postgres`, which may not enter the repo
    cluster = PostgresCluster.start(port=pg_port)
    azurite = None
    try:
        for _, database, _ in parts:
            cluster.create_database(database, DEMO_SQL)
        azurite = Azurite.start(folder / "azurite", ports=azurite_ports)
        for _, database, container in parts:
            upload_signed_documents(cluster, azurite.connection_string, container, database)
        create_fleet_queues(azurite.connection_string)
        return cluster, azurite
    except BaseException:
        if azurite:
            azurite.stop()
        cluster.stop()
        raise


def start(folder: Path = STACK_DIR, pg_port: int = PG_PORT, azurite_ports: tuple[int, int, int] = AZURITE_PORTS,
          settings_file: Path = SETTINGS_FILE, fleet: int = 1) -> StackState:
    """Start the stack in `folder` (left running) and write the settings file; refuses a running one."""
    running = read_state(folder)
    if running and alive(running):
        raise RuntimeError(f"a stack is already running (PostgreSQL PID {running.pg_pid}, Azurite PID "
                           f"{running.azurite_pid}); `make stop` first")
    shutil.rmtree(folder, ignore_errors=True)  # leftovers of a stack that died
    folder.mkdir(parents=True)
    cluster, azurite = start_services(folder, pg_port, azurite_ports, fleet)
    state = StackState(str(folder), str(cluster.datadir.parent), cluster.port, cluster.proc.pid,
                       (azurite.blob_port, azurite.queue_port, azurite.table_port), azurite.proc.pid,
                       str(settings_file), datetime.now(timezone.utc).isoformat(timespec="seconds"))
    (folder / "stack.json").write_text(json.dumps(asdict(state), indent=2))
    write_settings(settings_file, settings_document(cluster.port, state.azurite_ports, folder / "spool", fleet), folder)
    return state


def write_settings(path: Path, document: dict, folder: Path) -> None:
    """Write the settings file; one the stack did not write is kept aside, never overwritten."""
    text = json.dumps(document, indent=2) + "\n"
    ours = folder / "written-settings.json"
    if path.exists() and path.read_text() != text:
        backup = path.with_name(f"{path.name}.bak-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        path.rename(backup)
        print(f"kept your previous {path.name} as {backup.name}")
    path.write_text(text)
    ours.write_text(text)


def read_state(folder: Path = STACK_DIR) -> StackState | None:
    try:
        raw = json.loads((folder / "stack.json").read_text())
    except (OSError, ValueError):
        return None
    raw["azurite_ports"] = tuple(raw["azurite_ports"])
    return StackState(**raw)


def _is_ours(pid: int, folder: str) -> bool:
    """The PID is still the process we started (a recycled PID never matches our folder)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return folder in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z"


def alive(state: StackState) -> bool:
    return _is_ours(state.pg_pid, state.pg_folder) or _is_ours(state.azurite_pid, state.folder)


def _stop_pid(pid: int, folder: str, sig: int, wait: float) -> None:
    if not _is_ours(pid, folder):
        return
    os.killpg(pid, sig)  # the process group: runuser + postgres, or npx + node
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _is_ours(pid, folder):
        time.sleep(0.1)
    if _is_ours(pid, folder):
        os.killpg(pid, signal.SIGKILL)


def stop(folder: Path = STACK_DIR) -> StackState | None:
    """Stop what `start` recorded in `folder`, by PID, and remove its data. None: nothing recorded."""
    state = read_state(folder)
    if state is None:
        return None
    _stop_pid(state.pg_pid, state.pg_folder, signal.SIGINT, 20)  # PostgreSQL's fast shutdown
    _stop_pid(state.azurite_pid, state.folder, signal.SIGINT, 3)
    written = folder / "written-settings.json"
    settings = Path(state.settings_file)
    if written.exists() and settings.exists() and settings.read_text() == written.read_text():
        settings.unlink()  # ours and unchanged: the stack it points at is gone
    shutil.rmtree(state.pg_folder, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    return state


def describe(state: StackState) -> str:
    blob, queue, table = state.azurite_ports
    return (f"PostgreSQL  127.0.0.1:{state.pg_port}  database medicapp, login verifier / {DEMO_PASSWORD} "
            f"(PID {state.pg_pid})\n"
            f"Azurite     blob 127.0.0.1:{blob}, queue {queue}, table {table}  account {AZURITE_ACCOUNT} "
            f"(PID {state.azurite_pid})\n"
            f"Settings    {state.settings_file}  (read by `python -m checks` and `func start`)\n")


def fleet_arg(argv: list[str]) -> int:
    """`--fleet N` (make demo/stack FLEET=N): N local targets; 1 without it."""
    if "--fleet" not in argv:
        return 1
    value = (argv[argv.index("--fleet") + 1:] or [""])[0]
    if not value.isdigit():
        raise ValueError(f"FLEET: expected 1 to 9 local targets, got {value!r}")
    return int(value)


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else "status"
    if verb == "start":
        try:
            state = start(fleet=fleet_arg(argv))
        except (RuntimeError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("Local stack started:\n" + describe(state) + "Stop it with `make stop`.")
    elif verb == "stop":
        state = stop()
        print(f"Stopped PostgreSQL (PID {state.pg_pid}) and Azurite (PID {state.azurite_pid})." if state
              else "No local stack recorded in .devstack/.")
    elif verb == "status":
        state = read_state()
        print(describe(state) if state and alive(state) else "No local stack running.")
    else:
        print("usage: python devtools/stack.py start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
