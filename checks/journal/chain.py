"""Tamper evidence of the journal: the month partition's hash chain (pure: no I/O).

A *link* is what one write adds to a month: a run (its summary entity, the *anchor*, plus one
entity per result, its *members*), an acknowledgement or a sign-off (an anchor without members).
The anchor carries:

  ChainSeq      position of the link in the partition (1, 2, ...)
  ChainPrev     the previous link's ChainHash (the first link: the partition's genesis value)
  ChainPrevRow  the previous link's RowKey (names a deleted link)
  ChainMembers  JSON {member RowKey: first 16 hex of its entity digest} (split over ChainMembers2..
                when long); tells which member was edited or deleted
  ChainedAt     when the link was written (UTC)
  ChainHash     SHA-256(ChainPrev || link digest), both as hex text

The link digest is SHA-256 over the digests of the anchor and its members (RowKey order); an
entity's digest is SHA-256 of its canonical form: every property but Timestamp/ETag (service
metadata) and the position columns (ChainSeq, ChainPrev, ChainPrevRow, ChainHash), sorted by name,
each value tagged with its exact type (a number turned into text is an edit).

The head entity (RowKey `chain-head`, Kind `chain-head`) holds the newest link's hash, RowKey and
position; a writer replaces it in the same entity-group transaction as the link, on the ETag it
read (If-Match), so two concurrent writers never fork the chain: one fails and appends again on
the new head.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

HEAD_ROW = "chain-head"
HEAD_KIND = "chain-head"
ANCHOR_KINDS = ("run", "ack", "signoff")  # a link's anchor: each one changes the month's verdict
CHAINED_KINDS = ANCHOR_KINDS + ("check",)  # a check entity is a member of its run's link
POSITION_COLUMNS = ("ChainSeq", "ChainPrev", "ChainPrevRow", "ChainHash")
MEMBERS_COLUMN = "ChainMembers"
SHORT = 16  # hex digits of a member's digest kept in its anchor
_PIECE = 30_000  # UTF-16 units per ChainMembers column (Azure: 32K per string property)
_SKIP = {"Timestamp", "etag", "ETag"} | set(POSITION_COLUMNS)


def _typed(value: Any) -> list[Any]:
    """[type, value as JSON] with the type the service stores (Edm names)."""
    edm = getattr(value, "edm_type", None)  # EntityProperty (e.g. an Int64 read back)
    if edm is not None:
        return [_edm_family(str(getattr(edm, "value", edm))), _typed(value.value)[1]]
    if isinstance(value, bool):
        return ["Edm.Boolean", value]
    if isinstance(value, int):
        return ["Edm.Int", str(value)]
    if isinstance(value, float):
        return ["Edm.Double", repr(value)]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return ["Edm.DateTime", moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    if isinstance(value, (bytes, bytearray)):
        return ["Edm.Binary", base64.b64encode(bytes(value)).decode()]
    if isinstance(value, uuid.UUID):
        return ["Edm.Guid", str(value)]
    if value is None:
        return ["Edm.Null", None]
    return ["Edm.String", str(value)]


def _edm_family(name: str) -> str:
    return "Edm.Int" if name in ("Edm.Int32", "Edm.Int64") else name


def canonical(entity: dict[str, Any]) -> bytes:
    """The entity's canonical bytes (what its digest is taken over)."""
    body = {key: _typed(value) for key, value in entity.items()
            if key not in _SKIP and not key.startswith("odata.")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def exported(entity: dict[str, Any]) -> dict[str, Any]:
    """Every property of the entity, typed (a seal's export), the service's Timestamp aside."""
    return {key: _typed(value) for key, value in sorted(entity.items())
            if key not in ("Timestamp", "etag", "ETag") and not key.startswith("odata.")}


def entity_digest(entity: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entity)).hexdigest()


def short_digest(entity: dict[str, Any]) -> str:
    return entity_digest(entity)[:SHORT]


def genesis(partition: str) -> str:
    """ChainPrev of a partition's first link."""
    return hashlib.sha256(f"medicapp-journal|{partition}".encode()).hexdigest()


def link_digest(anchor: dict[str, Any], members: Iterable[dict[str, Any]]) -> str:
    h = hashlib.sha256(entity_digest(anchor).encode())
    for member in sorted(members, key=lambda e: str(e.get("RowKey"))):
        h.update(entity_digest(member).encode())
    return h.hexdigest()


def chain_hash(prev: str, digest: str) -> str:
    return hashlib.sha256((prev + digest).encode()).hexdigest()


def members_columns(members: Iterable[dict[str, Any]]) -> dict[str, str]:
    text = json.dumps({str(m["RowKey"]): short_digest(m) for m in members}, sort_keys=True, separators=(",", ":"))
    pieces = [text[i:i + _PIECE] for i in range(0, len(text), _PIECE)] or [text]
    return {MEMBERS_COLUMN if i == 0 else f"{MEMBERS_COLUMN}{i + 1}": piece for i, piece in enumerate(pieces)}


def members_of(anchor: dict[str, Any]) -> dict[str, str] | None:
    """{member RowKey: short digest} recorded in a link's anchor; None when unreadable (an edit)."""
    text, i = str(anchor.get(MEMBERS_COLUMN, "{}")), 2
    while f"{MEMBERS_COLUMN}{i}" in anchor:
        text += str(anchor[f"{MEMBERS_COLUMN}{i}"])
        i += 1
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()) else None


def is_anchor(row: dict[str, Any]) -> bool:
    return "ChainHash" in row and row.get("RowKey") != HEAD_ROW


def link(anchor: dict[str, Any], members: list[dict[str, Any]], head: dict[str, Any] | None,
         now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the anchor with its chain columns, the new head entity) for appending after `head` (None: first)."""
    partition = str(anchor["PartitionKey"])
    seq = int(head.get("ChainLength", 0)) + 1 if head else 1
    prev = str(head["ChainHash"]) if head else genesis(partition)
    chained = dict(anchor, ChainSeq=seq, ChainPrev=prev, ChainPrevRow=str(head.get("ChainRow", "")) if head else "",
                   ChainedAt=now, **members_columns(members))
    chained["ChainHash"] = chain_hash(prev, link_digest(chained, members))
    new_head = {"PartitionKey": partition, "RowKey": HEAD_ROW, "Kind": HEAD_KIND, "ChainHash": chained["ChainHash"],
                "ChainRow": str(anchor["RowKey"]), "ChainLength": seq,
                "ChainSince": head.get("ChainSince", now) if head else now, "ChainUpdatedAt": now}
    return chained, new_head
