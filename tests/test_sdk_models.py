"""The PostgreSQL SDK's model classes are set up once, on one thread, before checks read models concurrently
(checks/connect/azure.py prepare_postgres_models: the SDK sets a class up on first use without a lock)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
sys.path.insert(0, {root!r})
from azure.mgmt.postgresqlflexibleservers import models
from azure.mgmt.postgresqlflexibleservers._utils.model_base import Model
classes = [c for c in vars(models).values() if isinstance(c, type) and issubclass(c, Model) and c is not Model]
def unset():
    return sum(f"{{c.__module__}}.{{c.__qualname__}}" not in Model._calculated for c in classes)
before = unset()
from checks.connect.azure import postgres_client
from checks.engine.config import Settings
from checks.engine.context import RunContext
sys.path.insert(0, {tests!r})
from azure_fakes import CannedTransport, StaticCredential
ctx = RunContext(settings=Settings.from_env({{"AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000"}}),
                 credential=StaticCredential(), azure_kwargs={{"transport": CannedTransport()}})
postgres_client(ctx)
print(len(classes), before, unset())
"""


def test_building_the_postgres_client_sets_every_model_class_up_first():
    code = PROBE.format(root=str(ROOT), tests=str(ROOT / "tests"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    classes, before, after = (int(x) for x in out.stdout.split())
    assert classes > 50 and before == classes and after == 0
