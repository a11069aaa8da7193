"""Appending to a month's hash chain (checks/journal/chain.py) in entity-group transactions.

A link's last transaction holds its anchor (created, never overwritten) and the head's replace on
the ETag it was read with (If-Match; created when the month has none). Two writers of one month
at once (a fleet's targets through the queue): one transaction fails on the head (412, or 409 for
two first links), and that writer reads the new head and appends again, so the chain never forks.
"""
from __future__ import annotations

import random
import time
from datetime import datetime, timezone
from typing import Any

from checks.engine.i18n import msgn
from checks.engine.model import JournalUnavailable, Run
from checks.journal.bounds import batches
from checks.journal.chain import HEAD_ROW, link

CHAIN_ATTEMPTS = 40  # appends racing for a month's head retry on the new head, with a jittered backoff


def write_run(journal: Any, run: Run) -> None:
    """The run's entities: members that do not fit the last transaction first (created), then the link."""
    from checks.journal.store import check_entity, run_entity
    members = [check_entity(run, r) for r in run.results]
    anchor = run_entity(run)
    leading, final = split_for_link(members, anchor)
    for batch in leading:  # more results than one transaction holds: the first ones before the link
        if not _create_all(journal, batch):  # a write interrupted earlier left some of them
            if journal.get_entity(anchor["PartitionKey"], anchor["RowKey"]) is not None:
                return  # journaled already (a replay): the chain keeps the first write
            journal.submit("write", [("upsert", e) for e in batch])
    append_link(journal, anchor, members, final)


def _create_all(journal: Any, entities: list[dict[str, Any]]) -> bool:
    """Create entities in one transaction; False when one of them exists already."""
    from azure.data.tables import TableTransactionError
    try:
        journal.submit("write", [("create", e) for e in entities], answers=(TableTransactionError,))
    except TableTransactionError as exc:
        if exc.status_code == 409:
            return False
        raise journal.error("write", exc) from None
    return True


def append_link(journal: Any, anchor: dict[str, Any], members: list[dict[str, Any]],
                final: list[dict[str, Any]]) -> bool:
    """Append a link (anchor + members, `final` of them written here) after the month's head; on a
    moved head, again on the new one. False when the anchor's RowKey exists already."""
    from azure.data.tables import TableTransactionError
    upsert = False
    for attempt in range(CHAIN_ATTEMPTS):
        found = journal.get_entity(anchor["PartitionKey"], HEAD_ROW)
        chained, head = link(anchor, members, found[0] if found else None, datetime.now(timezone.utc))
        ops = [("upsert" if upsert else "create", m) for m in final] + [("create", chained), _head_op(head, found)]
        try:
            journal.submit("write", ops, answers=(TableTransactionError,))
            return True
        except TableTransactionError as exc:
            if exc.status_code in (404, 409, 412) and _failed_index(exc) == len(ops) - 1:
                time.sleep(random.uniform(0.005, 0.02 * 2 ** min(attempt, 5)))  # another writer moved the head
                continue
            if exc.status_code != 409:
                raise journal.error("write", exc) from None
            if journal.get_entity(anchor["PartitionKey"], anchor["RowKey"]) is not None:
                return False
            upsert = True  # members left by an interrupted write of this run: complete them
    raise JournalUnavailable(msgn("journal write failed: the chain head of {partition} kept moving ({attempts} attempt)",
                                  "journal write failed: the chain head of {partition} kept moving ({attempts} attempts)",
                                  "attempts", partition=anchor["PartitionKey"], attempts=CHAIN_ATTEMPTS))


def split_for_link(members: list[dict[str, Any]], anchor: dict[str, Any]) -> tuple[list[list[dict[str, Any]]],
                                                                                     list[dict[str, Any]]]:
    """(batches of members written before the link, members written with it): the anchor and the head
    go in the last transaction, with as many members as fit."""
    ops = [("create", m) for m in members]
    split = batches(ops + [("create", anchor), ("head", {"RowKey": HEAD_ROW, "ChainHash": "0" * 64})])
    if len(split[-1]) >= 2 and split[-1][-2][1] is anchor:
        return [[e for _, e in b] for b in split[:-1]], [e for _, e in split[-1][:-2]]
    return [[e for _, e in b] for b in batches(ops)], []


def _head_op(head: dict[str, Any], found: tuple[dict[str, Any], str] | None) -> tuple:
    """Replace the head only if nobody moved it since it was read (If-Match); create it if there was none."""
    if found is None:
        return ("create", head)
    from azure.core import MatchConditions
    from azure.data.tables import UpdateMode
    return ("update", head, {"mode": UpdateMode.REPLACE, "etag": found[1],
                             "match_condition": MatchConditions.IfNotModified})


def _failed_index(exc: Any) -> int:
    index = getattr(exc, "index", None)
    return index if isinstance(index, int) else -1
