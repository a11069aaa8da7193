"""Throwaway local parts for tests and the demo: a PostgreSQL cluster and Azurite.

Both run on free loopback ports, in a temporary folder, and are stopped by PID. When running as
root, PostgreSQL runs as the `postgres` user (runuser), as initdb refuses root.
This is developer tooling: it starts real servers, it does not fake Azure.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret)
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEMO_SQL = ROOT / "devtools" / "demo_db.sql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None, what: str = "",
               host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if found:
        return found[0]
    path = shutil.which(name)
    if path:
        return path
    raise RuntimeError(f"PostgreSQL server binary {name!r} not found: install Debian's postgresql package "
                       "(.ci/run does this)")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


@dataclass
class PostgresCluster:
    """A throwaway cluster: trust auth on loopback, plus a password user for password tests."""
    port: int
    datadir: Path
    proc: subprocess.Popen | None = None
    superuser: str = "postgres"
    host: str = "127.0.0.1"

    @classmethod
    def start(cls, base: Path | None = None, host: str = "127.0.0.1", port: int | None = None) -> "PostgresCluster":
        """`host`/`port`: e.g. a second cluster on 127.0.0.2 with the first one's port (restore drill tests)."""
        base = Path(base or tempfile.mkdtemp(prefix="verifier-pg-"))
        datadir = base / "data"
        datadir.mkdir(parents=True, exist_ok=True)
        sockdir = base / "sock"
        sockdir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            shutil.chown(datadir, "postgres")
            shutil.chown(sockdir, "postgres")
            os.chmod(base, 0o755)
        superuser = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(datadir), "-U", superuser, "-A", "trust",
                                     "--no-sync", "-E", "UTF8", "--locale=C"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # password auth for loopback TCP, so wrong-password tests are real
        (datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        port = port or free_port()
        proc = subprocess.Popen(
            _as_postgres([_pg_bin("postgres"), "-D", str(datadir), "-p", str(port), "-k", str(sockdir),
                          "-c", f"listen_addresses={host}", "-c", "fsync=off", "-c", "full_page_writes=off",
                          "-c", "synchronous_commit=off"]),
            stdout=subprocess.DEVNULL, stderr=open(base / "postgres.log", "wb"), start_new_session=True)
        cluster = cls(port=port, datadir=datadir, proc=proc, superuser=superuser, host=host)
        _wait_port(port, 30, proc, "postgres", host)
        cluster._wait_ready()
        return cluster

    def _wait_ready(self) -> None:
        import psycopg
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def admin_url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{dbname}"

    def url(self, user: str, password: str, dbname: str) -> str:
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg
        with psycopg.connect(self.admin_url(dbname), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, sql_file: Path | None = None) -> None:
        import psycopg
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        if sql_file:
            with psycopg.connect(self.admin_url(name), autocommit=True) as conn:
                conn.execute(Path(sql_file).read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            # SIGINT = PostgreSQL's "fast" shutdown; kill the group if it lingers
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


@dataclass
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int
    location: Path
    proc: subprocess.Popen | None = None

    @classmethod
    def start(cls, location: Path | None = None, ports: tuple[int, int, int] | None = None,
              in_memory: bool = False) -> "Azurite":
        """`ports` = (blob, queue, table); default three free ports (make stack: Azurite's own 10000-10002).
        `in_memory`: nothing saved to disk (the benchmarks: Azurite's periodic save of its whole database is
        the emulator's cost, not the verifier's)."""
        exe = ROOT / "node_modules" / ".bin" / "azurite"
        if not exe.exists():
            raise RuntimeError("Azurite not installed: run `npm ci` (or `make install`) in the repository")
        location = Path(location or tempfile.mkdtemp(prefix="verifier-azurite-"))
        location.mkdir(parents=True, exist_ok=True)
        blob, queue, table = ports or (free_port(), free_port(), free_port())
        proc = subprocess.Popen(
            [str(exe), "--silent", "--skipApiVersionCheck", "--loose", "--disableTelemetry"]
            + (["--inMemoryPersistence"] if in_memory else ["--location", str(location)]) + [
             "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1",
             "--queuePort", str(queue), "--tableHost", "127.0.0.1", "--tablePort", str(table)],
            stdout=subprocess.DEVNULL, stderr=open(location / "azurite.err", "wb"), start_new_session=True)
        azurite = cls(blob, queue, table, location, proc)
        for port in (blob, queue, table):
            _wait_port(port, 60, proc, "azurite")
        return azurite

    @property
    def connection_string(self) -> str:
        host = "http://127.0.0.1"
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={host}:{self.blob_port}/{AZURITE_ACCOUNT};"
                f"QueueEndpoint={host}:{self.queue_port}/{AZURITE_ACCOUNT};"
                f"TableEndpoint={host}:{self.table_port}/{AZURITE_ACCOUNT};")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            # Azurite waits for idle keep-alive connections on SIGINT/SIGTERM; its data is throwaway
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.location, ignore_errors=True)
