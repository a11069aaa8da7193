"""`make stack` / `make stop` / `make demo`, and the commands of README.md and docs/, on a real local stack.

The stack is started with the same code as `make stack` (devtools/stack.py), on free ports and in
a temporary folder; the CLI runs as a user runs it: `python -m checks ...` in a folder holding the
stack's local.settings.json, with no verifier variable in the environment.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from checks.engine.config import VARIABLES, Settings
from docs_text import doc_files
from devtools import demo, stack
from devtools.localstack import free_port

ROOT = Path(__file__).resolve().parent.parent


def user_env() -> dict[str, str]:
    """The environment of a user with nothing configured: the settings file is all there is."""
    ours = {var.name for _, var in VARIABLES}
    env = {k: v for k, v in os.environ.items()
           if k not in ours and not k.startswith(("PG", "AZURE_")) and k != "DATABASE_URL"}
    return env | {"PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("user")
    folder = home / ".devstack"
    state = stack.start(folder, pg_port=free_port(), azurite_ports=(free_port(), free_port(), free_port()),
                        settings_file=home / "local.settings.json")
    try:
        yield home, folder, state
    finally:
        stack.stop(folder)


def cli(home: Path, command: str) -> subprocess.CompletedProcess:
    """A README line as typed (after `. .venv/bin/activate`): `python` is the project's venv."""
    line = re.sub(r"^python\b", sys.executable, command)
    return subprocess.run(["bash", "-c", line], cwd=home, env=user_env(), capture_output=True, text=True,
                          timeout=120)


def test_stack_writes_settings_the_cli_reads_and_runs_five_checks(running_stack):
    home, folder, state = running_stack
    settings = json.loads((home / "local.settings.json").read_text())["Values"]
    assert settings["DATABASE_URL"].endswith(f"@127.0.0.1:{state.pg_port}/medicapp")
    assert f"BlobEndpoint=http://127.0.0.1:{state.azurite_ports[0]}/" in settings["BLOB_CONNECTION_STRING"]
    done = cli(home, "python -m checks run --json")
    assert done.returncode == 0, done.stderr
    results = {r["check_id"]: r for r in json.loads(done.stdout)["results"]}
    ran = [cid for cid, r in results.items() if r["status"] != "skipped"]
    assert len(ran) >= 5 and {"database.connectivity", "blob.recent_file"} <= set(ran)
    assert results["blob.recent_file"]["status"] == "pass"
    assert results["postgres.backup_recent"]["summary"] == \
        "AZURE_SUBSCRIPTION_ID, PG_RESOURCE_GROUP and PG_SERVER_NAME not set"
    # a second start is refused while it runs; status sees it
    with pytest.raises(RuntimeError, match="already running"):
        stack.start(folder, pg_port=free_port(), azurite_ports=(free_port(),) * 3,
                    settings_file=home / "other.json")
    assert stack.alive(stack.read_state(folder))


def test_demo_shows_the_checks_and_leaves_the_linked_pages(running_stack, tmp_path, monkeypatch, capfd):
    home, _, _ = running_stack
    monkeypatch.setattr(demo, "OUTPUT", tmp_path / "demo-output")
    (tmp_path / "demo-output").mkdir()
    (tmp_path / "demo-output" / "checklist-2026-01.html").write_text("an older demo's page, its links broken")
    code = demo.show(home / "local.settings.json")
    out = capfd.readouterr().out
    assert code == 0, out
    assert re.search(r"^PASS\s+blob\.recent_file", out, re.M)
    assert len(re.findall(r"^(PASS|WARN|FAIL|ERROR)\s", out, re.M)) >= 5
    assert re.search(r"^SKIP\s+postgres\.retention .*AZURE_SUBSCRIPTION_ID", out, re.M)
    site = tmp_path / "demo-output" / "site"
    index, month = site / "index.html", next(site.glob("month-*.html"))
    assert index.read_text().lstrip().lower().startswith("<!doctype html") and str(index) in out
    assert str(site / f"month-{demo.datetime.now(demo.timezone.utc):%Y-%m}.html") in out and month.is_file()
    assert list((tmp_path / "demo-output").glob("checklist-*.html")) == []  # tests/test_demo_site.py follows the links


def readme_commands() -> list[str]:
    """Every `python -m checks ...` line of the bash code blocks of README.md and docs/**/*.md, without
    its comment, each once; an optional `[...]` of a synopsis is left out."""
    blocks = [block for path in doc_files() for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S)]
    blocks = [re.sub(r"\\\n\s*", "", block) for block in blocks]  # a `\` continuation joins its next line
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [re.sub(r"\s*\[[^\]]*\]", "", line) for line in lines if line.startswith("python -m checks")]
    return list(dict.fromkeys(commands))


def test_readme_lists_cli_commands():
    commands = readme_commands()
    assert len(commands) >= 12 and any(c.startswith("python -m checks run") for c in commands)


# what the stack and a test do not provide: Azure targets, an enabled drill, a terminal to confirm
# `restore --apply` (the README's example run ids are not in the journal: exit 1, below); a run in the
# README's example month (a sign-off of a month without runs is refused, exit 2)
NEEDS_AZURE = re.compile(r"AZURE_SUBSCRIPTION_ID|PG_SERVER_NAME|RESTORE_DRILL_ENABLED|--apply without a terminal|"
                         r"cannot sign off: no run of 2026-11 ")
USAGE_ERROR = re.compile(r"usage:|unrecognized arguments|invalid choice|arguments are required|expected one argument")


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_works_as_written(running_stack, command):
    home, _, _ = running_stack
    done = cli(home, command)
    assert "Traceback" not in done.stderr, done.stderr
    assert not USAGE_ERROR.search(done.stderr), done.stderr  # the README's syntax is what the CLI takes
    if done.returncode == 2:  # a configuration error: only for what needs Azure, naming what to set
        assert NEEDS_AZURE.search(done.stderr), done.stderr
    else:  # 0 or 1 (a box not ticked, a run not found)
        assert done.returncode in (0, 1), done.stderr
        assert done.stdout or done.returncode == 1 or ">" in command, done.stderr
    if command.startswith(("python -m checks drill start", "python -m checks drill cleanup")):
        assert done.returncode == 2  # the drill is not enabled / has no Azure target here


def test_stop_stops_by_pid_and_removes_what_start_made(tmp_path):
    folder = tmp_path / ".devstack"
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text('{"Values": {"MINE": "1"}}')  # the user's own file is kept aside
    state = stack.start(folder, pg_port=free_port(), azurite_ports=(free_port(), free_port(), free_port()),
                        settings_file=settings_file)
    backups = list(tmp_path.glob("local.settings.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == {"Values": {"MINE": "1"}}
    assert stack.stop(folder) == state
    assert not stack.alive(state) and not folder.exists() and not Path(state.pg_folder).exists()
    assert not settings_file.exists()  # it pointed at the stopped stack
    assert stack.stop(folder) is None


def test_sample_settings_point_at_what_make_stack_starts():
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert stack.connection_values() == {k: sample[k] for k in stack.connection_values()}
    assert f"127.0.0.1:{stack.PG_PORT}/medicapp" in sample["DATABASE_URL"]
    from azure.storage.blob import BlobServiceClient
    from azure.data.tables import TableClient
    # UseDevelopmentStorage=true is Azurite on its own ports, where make stack starts it
    assert BlobServiceClient.from_connection_string(sample["BLOB_CONNECTION_STRING"]).url.startswith(
        f"http://127.0.0.1:{stack.AZURITE_PORTS[0]}/")
    assert f":{stack.AZURITE_PORTS[2]}/" in TableClient.from_connection_string(
        sample["AzureWebJobsStorage"], table_name="t").url
    settings = Settings.from_env(sample)
    assert not settings.is_set("azure_subscription_id") and not settings.is_set("blob_account_url")
