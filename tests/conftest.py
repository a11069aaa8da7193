"""Session fixtures: a real PostgreSQL cluster and Azurite, on free ports, stopped by PID."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from devtools.localstack import DEMO_SQL, Azurite, PostgresCluster  # noqa: E402

DEMO_DB = "medicapp"
VERIFIER_PASSWORD = "verifier-demo-pw"


@pytest.fixture(scope="session")
def pg_cluster():
    cluster = PostgresCluster.start()
    try:
        cluster.create_database(DEMO_DB, DEMO_SQL)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def restored_cluster(pg_cluster):
    """A restored server's stand-in (drill and incident restore): production's port on RESTORED_HOST,
    the demo schema, RESTORED_CONSULTATIONS consultations. Tests that change it use a database of their own."""
    from stand_in import RESTORED_CONSULTATIONS, RESTORED_HOST
    cluster = PostgresCluster.start(host=RESTORED_HOST, port=pg_cluster.port)
    try:
        cluster.create_database(DEMO_DB, DEMO_SQL)
        cluster.execute(f"DELETE FROM consultations WHERE id > {RESTORED_CONSULTATIONS}", DEMO_DB)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def demo_db_url(pg_cluster) -> str:
    """The verifier's login (SELECT only) on the demo database."""
    return pg_cluster.url("verifier", VERIFIER_PASSWORD, DEMO_DB)


@pytest.fixture(scope="session", autouse=True)
def record_azurite_requests():
    """Every request the real SDK clients send over the network (Azurite) joins the session's record;
    threads remember who started them (a poller's requests are its starter's)."""
    from azure.core.pipeline.transport import RequestsTransport
    from azure_fakes import follow_threads, record

    original = RequestsTransport.send

    def send(self, request, **kwargs):
        response = original(self, request, **kwargs)
        record(request, response)
        return response

    RequestsTransport.send = send
    unfollow = follow_threads()
    try:
        yield
    finally:
        RequestsTransport.send = original
        unfollow()


@pytest.fixture(scope="session")
def azurite():
    instance = Azurite.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def journal_table_name() -> str:
    """A fresh table per test so tests do not see each other's runs."""
    return "J" + uuid.uuid4().hex[:20]


@pytest.fixture(autouse=True)
def private_state_home(tmp_path_factory, monkeypatch):
    """The default spool lives under the user's state directory: never the real one in tests."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def base_env(azurite, journal_table_name, tmp_path) -> dict[str, str]:
    return {"AzureWebJobsStorage": azurite.connection_string, "JOURNAL_TABLE": journal_table_name,
            "CHECK_TIMEOUT_SECONDS": "20", "VERIFIER_SPOOL_DIR": str(tmp_path / "spool")}


@pytest.fixture(autouse=True)
def http_auth_mode(monkeypatch):
    """HTTP tests run in the function-key opt-out unless they ask for `entra` (then they send a caller:
    tests/principal_headers.py; tests/test_http_principal.py, tests/test_function_app.py)."""
    monkeypatch.setenv("HTTP_AUTH_MODE", "function-key")


@pytest.fixture
def entra(monkeypatch):
    """HTTP_AUTH_MODE=entra, the default of a deployment: routes need X-MS-CLIENT-PRINCIPAL with the app role."""
    monkeypatch.setenv("HTTP_AUTH_MODE", "entra")


@pytest.fixture
def env_patch(monkeypatch):
    """Replace the process environment with exactly the given variables (handlers read os.environ)."""
    def apply(values: dict[str, str]) -> None:
        for key in list(os.environ):
            if key.startswith(("PG", "AZURE_", "DATABASE_URL", "JOURNAL_", "BLOB_", "STORAGE_", "RESTORE_",
                               "AzureWebJobsStorage", "CHECK_", "ESSENTIAL_", "SIGNED_", "EXPECTED_")):
                monkeypatch.delenv(key, raising=False)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
    return apply


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: runs in Chromium via Playwright (tests/test_pages_browser.py)")


def pytest_collection_modifyitems(session, config, items):
    """The permission contract judges the requests of the whole session: its tests run last."""
    items.sort(key=lambda item: item.module.__name__ == "test_permissions")
