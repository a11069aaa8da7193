"""The deviation partition's hash chain sealed like a month's (issue 30 item 1, tamper evidence): every
month's seal (`journal seal --month`, a sign-off, the monthly timer) also writes the deviation chain's head to
the seal container (seals/deviation/<length>.json, written once), and `journal verify` compares the chain
with those seals: the newest events removed and the chain head rewritten to match (a chain that is
consistent on its own) is named. The journal and the seal container are Azurite's."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from checks.engine.config import Settings
from checks.engine.model import Status
from checks.journal import seal as seals
from checks.journal.chain import HEAD_ROW
from checks.journal.deviations import PARTITION, deviation_id, verify_partition
from test_deviations_faces import CHECK, MONTH, NOW, app_env, cli, journal, recorded  # noqa: F401 (fixtures)

OTHER = "blob.soft_delete"
FIRST, SECOND = deviation_id("production", CHECK, 1), deviation_id("production", OTHER, 1)


@pytest.fixture
def env(app_env):
    return dict(app_env, JOURNAL_SEAL_CONTAINER="seals-" + uuid.uuid4().hex[:12])


def two_deviations(journal, env):
    recorded(journal, env, Status.FAIL, NOW - timedelta(days=2))
    recorded(journal, env, Status.FAIL, NOW - timedelta(days=1), check=OTHER)


def truncate_newest(journal):
    """Remove the newest event and rewrite the chain head to the link before it, as a writer of the table
    could: the chain alone is consistent again."""
    table = journal.table_client
    rows = [dict(r) for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})]
    links = sorted((r for r in rows if "ChainSeq" in r and r["RowKey"] != HEAD_ROW), key=lambda r: int(r["ChainSeq"]))
    newest, before = links[-1], links[-2]
    table.delete_entity(PARTITION, newest["RowKey"])
    head = next(r for r in rows if r["RowKey"] == HEAD_ROW)
    table.upsert_entity(dict(head, ChainHash=before["ChainHash"], ChainRow=before["RowKey"],
                             ChainLength=int(before["ChainSeq"])), mode="replace")
    return newest["RowKey"]


def test_journal_seal_seals_the_deviation_chain_and_verify_names_a_truncated_tail(journal, env):
    two_deviations(journal, env)
    code, out, err = cli(["journal", "seal", "--month", MONTH], env)
    assert code == 0 and "Sealed the deviation chain: seals/deviation/000002.json" in out, out + err
    code, out, err = cli(["journal", "verify"], env)
    assert code == 0 and "deviation: intact (2 links; entities: 2; seals: 1)" in out, out + err
    assert "not sealed" not in out
    removed = truncate_newest(journal)
    assert removed == SECOND
    assert verify_partition(journal).intact  # the gap: the chain alone does not show it
    code, out, err = cli(["journal", "verify"], env)
    assert code == 1 and "deviation: BROKEN" in out, out + err
    assert f"deleted    {SECOND}  sealed in seals/deviation/000002.json" in out
    assert "chain rewritten" in out
    code, out, _ = cli(["journal", "verify", "--json"], env)
    data = json.loads(out)
    assert not data["intact"] and ("deleted", SECOND) in {(f["kind"], f["row_key"]) for f in
                                                          data["deviations"]["findings"]}
    code, out, _ = cli(["--lang", "fr", "journal", "verify"], env)
    assert code == 1 and SECOND in out and "supprimé" in out


def test_a_rewritten_tail_of_the_same_length_is_named_too(journal, env):
    """Truncated, then a different event appended in its place: the length matches the seal, the head does not."""
    two_deviations(journal, env)
    assert cli(["journal", "seal", "--month", MONTH], env)[0] == 0
    truncate_newest(journal)
    recorded(journal, env, Status.FAIL, NOW - timedelta(hours=1), check="postgres.geo_backup")
    code, out, err = cli(["journal", "verify"], env)
    assert code == 1 and f"deleted    {SECOND}" in out and "seals/deviation/000002.json" in out, out + err


def test_every_event_and_the_head_deleted_after_a_seal_is_named(journal, env):
    two_deviations(journal, env)
    assert cli(["journal", "seal", "--month", MONTH], env)[0] == 0
    table = journal.table_client
    for row in list(table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})):
        table.delete_entity(PARTITION, row["RowKey"])
    code, out, err = cli(["journal", "verify"], env)
    assert code == 1 and "deviation: BROKEN" in out, out + err
    assert f"deleted    {FIRST}" in out and f"deleted    {SECOND}" in out
    assert "The deviation chain is broken" in out


def test_an_unsealed_deviation_chain_says_not_sealed_without_failing(journal, env):
    two_deviations(journal, env)
    code, out, err = cli(["journal", "verify"], env)
    assert code == 0 and "deviation: intact (2 links" in out and "not sealed yet" in out, out + err
    code, out, _ = cli(["--lang", "fr", "journal", "verify"], env)
    assert code == 0 and "pas encore scellée" in out, out


def test_a_sign_off_or_the_timer_seals_it_once_and_the_months_stay_months(journal, env):
    settings = Settings.from_env(env)
    two_deviations(journal, env)
    seals.seal_quietly(settings, journal, MONTH, "signoff")
    container = seals.container_client(settings)
    assert [s.name for s in seals.read_seals(container, PARTITION)] == ["seals/deviation/000002.json"]
    assert seals.seal_deviations(journal, container, "month-end") == ""  # nothing new: no second blob
    assert seals.sealed_months(container) == [MONTH]  # seals/deviation/ is not a month
    recorded(journal, env, Status.FAIL, NOW, check="postgres.geo_backup")
    seals.seal_last_month(settings, journal, NOW + timedelta(days=40))  # the timer, the month after
    assert [s.name for s in seals.read_seals(container, PARTITION)][-1] == "seals/deviation/000003.json"
    code, out, err = cli(["journal", "verify"], env)
    assert code == 0 and "deviation: intact (3 links; entities: 3; seals: 2)" in out, out + err
