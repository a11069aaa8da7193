"""Verification of a month partition's hash chain (pure: the entities in, findings out).

Each finding names the entity by RowKey and says what happened to it:
  edited     its digest no longer matches the one its link recorded (or the link's hash)
  deleted    a link or a member the chain (or a seal) names is missing
  inserted   an entity of a chained kind that no link covers, written after the chain began
  reordered  a link whose content is intact but whose position (ChainPrev/ChainSeq/ChainPrevRow)
             no longer follows its predecessor
Entities written before the partition's first link (no chain columns, older than the chain) are
*unchained*: listed, not tampering. The seal comparison (checks/journal/seal.py) adds its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks.engine.i18n import msg
from checks.engine.timeutil import EPOCH, as_datetime
from checks.journal.chain import (CHAINED_KINDS, HEAD_ROW, chain_hash, genesis, is_anchor, link_digest, members_of,
                                  short_digest)

KINDS = ("edited", "deleted", "inserted", "reordered", "unsealed", "seal")


@dataclass(frozen=True)
class Finding:
    kind: str        # one of KINDS
    row_key: str     # the entity (or the seal blob, for seal findings)
    detail: str = ""  # English detail (a Message when translated)

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "row_key": self.row_key, "detail": str(self.detail)}


@dataclass
class PartitionCheck:
    partition: str
    links: int = 0
    since: datetime | None = None  # when the chain began (None: no chained entity)
    unchained: list[str] = field(default_factory=list)  # written before the chain (not tampering)
    findings: list[Finding] = field(default_factory=list)
    entities: int = 0
    sealed_links: int = 0  # links covered by the newest seal (set by seal.compare)
    seals: int = 0

    @property
    def intact(self) -> bool:
        return not self.findings

    def add(self, kind: str, row_key: str, detail: str = "") -> None:
        """One finding per kind and entity (the first reason found)."""
        if not any(f.kind == kind and f.row_key == row_key for f in self.findings):
            self.findings.append(Finding(kind, row_key, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"month": self.partition, "intact": self.intact, "links": self.links, "entities": self.entities,
                "chained_since": self.since.isoformat() if self.since else None,
                "unchained": list(self.unchained), "seals": self.seals, "sealed_links": self.sealed_links,
                "findings": [f.to_dict() for f in self.findings]}


def verify_rows(partition: str, rows: list[dict[str, Any]]) -> PartitionCheck:
    """Recompute the chain of one month partition from its entities (every entity, one query)."""
    result = PartitionCheck(partition)
    head = next((r for r in rows if r.get("RowKey") == HEAD_ROW), None)
    entities = {str(r.get("RowKey")): r for r in rows if r.get("RowKey") != HEAD_ROW}
    result.entities = len(entities)
    anchors = [r for r in entities.values() if is_anchor(r)]
    claimed: dict[str, str] = {}
    for anchor in anchors:
        _check_link(anchor, entities, anchors, claimed, result)
    order = _walk(partition, anchors, head, result)
    result.links = len(order)
    result.since = _since(head, anchors)
    _unclaimed(entities, claimed, anchors, result)
    return result


def _check_link(anchor: dict[str, Any], entities: dict[str, dict[str, Any]], anchors: list[dict[str, Any]],
                claimed: dict[str, str], result: PartitionCheck) -> None:
    """Content of one link: its members (edited/deleted by RowKey), then its hash (edited or moved)."""
    row_key = str(anchor["RowKey"])
    recorded = members_of(anchor)
    if recorded is None:
        result.add("edited", row_key, msg("its list of members is unreadable"))
        return
    present, member_problem = [], False
    for member_key, digest in sorted(recorded.items()):
        claimed[member_key] = row_key
        member = entities.get(member_key)
        if member is None:
            result.add("deleted", member_key, msg("member of {row_key}", row_key=row_key))
            member_problem = True
        else:
            present.append(member)
            if short_digest(member) != digest:
                result.add("edited", member_key, msg("member of {row_key}", row_key=row_key))
                member_problem = True
    digest = link_digest(anchor, present)
    if chain_hash(str(anchor.get("ChainPrev", "")), digest) == anchor.get("ChainHash") or member_problem:
        return
    # moved, not changed: its content still hashes, after some link's hash, to a hash the chain holds
    hashes = {str(a.get("ChainHash")) for a in anchors} | {str(a.get("ChainPrev")) for a in anchors}
    if any(chain_hash(prev, digest) in hashes for prev in hashes | {genesis(result.partition)}):
        result.add("reordered", row_key, msg("its content is intact but its ChainPrev was changed"))
    else:
        result.add("edited", row_key, msg("its content no longer matches its ChainHash"))


def _walk(partition: str, anchors: list[dict[str, Any]], head: dict[str, Any] | None,
          result: PartitionCheck) -> list[dict[str, Any]]:
    """Follow ChainPrev -> ChainHash from the genesis value; report gaps, forks and moved positions."""
    by_prev: dict[str, list[dict[str, Any]]] = {}
    for anchor in anchors:
        by_prev.setdefault(str(anchor.get("ChainPrev", "")), []).append(anchor)
    hashes = {str(a.get("ChainHash")) for a in anchors}
    order: list[dict[str, Any]] = []
    current, previous_row, position = genesis(partition), "", 0
    starts = sorted((a for a in anchors if str(a.get("ChainPrev", "")) not in hashes | {genesis(partition)}),
                    key=lambda a: _int(a.get("ChainSeq")))
    while True:
        following = sorted(by_prev.pop(current, []), key=lambda a: _int(a.get("ChainSeq")))
        if not following and starts:  # a gap: the link before `starts[0]` is gone
            nxt = starts.pop(0)
            result.add("deleted", str(nxt.get("ChainPrevRow") or f"#{_int(nxt.get('ChainSeq')) - 1}"),
                       msg("the link before {row_key}", row_key=str(nxt["RowKey"])))
            following, previous_row = [nxt], str(nxt.get("ChainPrevRow", ""))
            by_prev.pop(str(nxt.get("ChainPrev", "")), None)
            position = max(position, _int(nxt.get("ChainSeq")) - 1)  # the gap is reported: count on after it
        if not following:
            break
        nxt = following[0]
        for extra in following[1:]:  # two links after one: a fork
            result.add("inserted", str(extra["RowKey"]), msg("a second link after {row_key}", row_key=previous_row)
                       if previous_row else msg("a second first link"))
        order.append(nxt)
        position += 1
        if _int(nxt.get("ChainSeq")) != position:
            result.add("reordered", str(nxt["RowKey"]), msg("position {position}, expected {expected}",
                                                            position=str(nxt.get("ChainSeq")), expected=position))
        current, previous_row = str(nxt.get("ChainHash")), str(nxt["RowKey"])
    _check_head(head, order, result)
    return order


def _check_head(head: dict[str, Any] | None, order: list[dict[str, Any]], result: PartitionCheck) -> None:
    if head is None:
        if order:
            result.add("deleted", HEAD_ROW, msg("the chain head entity is missing"))
        return
    length = _int(head.get("ChainLength"))
    if length > (_int(order[-1].get("ChainSeq")) if order else 0):
        result.add("deleted", str(head.get("ChainRow", "")),
                   msg("the head's chain length is {length}, the table holds {remain}", length=length,
                       remain=len(order)))
    elif order and str(head.get("ChainHash")) != str(order[-1].get("ChainHash")):
        result.add("edited", HEAD_ROW, msg("the head does not match the newest link {row_key}",
                                           row_key=str(order[-1]["RowKey"])))


def _since(head: dict[str, Any] | None, anchors: list[dict[str, Any]]) -> datetime | None:
    times = [as_datetime(a.get("ChainedAt")) for a in anchors if a.get("ChainedAt") is not None]
    if head is not None and head.get("ChainSince") is not None:
        times.append(as_datetime(head.get("ChainSince")))
    return min(times) if times else None


def _unclaimed(entities: dict[str, dict[str, Any]], claimed: dict[str, str], anchors: list[dict[str, Any]],
               result: PartitionCheck) -> None:
    """Entities of chained kinds no link covers: unchained before the chain began, else inserted."""
    chained_runs = {a.get("RunId") for a in anchors if a.get("Kind") == "run"}
    runs = {r.get("RunId") for r in entities.values() if r.get("Kind") == "run"}
    for row_key, row in sorted(entities.items()):
        if row.get("Kind") not in CHAINED_KINDS or is_anchor(row) or row_key in claimed:
            continue
        check = row.get("Kind") == "check"
        if check and row.get("RunId") in chained_runs:
            result.add("inserted", row_key, msg("a result added to the chained run {run_id}", run_id=str(row.get("RunId"))))
        elif result.since is None or written_at(row) < result.since:
            result.unchained.append(row_key)
        elif check and row.get("RunId") not in runs and row_key.endswith(f"-{row.get('CheckId')}"):
            result.add("deleted", row_key[:-len(str(row.get("CheckId"))) - 1],
                       msg("the summary of run {run_id}, whose results remain", run_id=str(row.get("RunId"))))
        else:
            result.add("inserted", row_key, msg("no link of the chain covers it"))


def written_at(row: dict[str, Any]) -> datetime:
    """When an entity was written: the service's own Timestamp when the reader kept it, else its time columns."""
    for column in ("Timestamp", "SignedAt", "AckAt", "FinishedAt", "StartedAt"):
        if row.get(column) is not None:
            return as_datetime(row.get(column))
    return EPOCH


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
