"""Seals: a month's chain head and export, written once to a WORM blob container.

Blob `seals/YYYY-MM/<chain length, 6 digits>.json` in JOURNAL_SEAL_CONTAINER (the journal's storage
account): the month's chain head (hash, RowKey, length), the entity count, every RowKey with its
digest, the export of every entity (canonical, typed), and the previous seal of the month (name and
SHA-256 of its bytes). A seal is created with If-None-Match: * (never overwritten, here or in
Azurite); in Azure the container's time-based immutability policy (infra/modules/storage.bicep,
locked) also forbids deleting or changing it. A month gets a seal when it is signed off and from
the monthly timer for the previous month; a later link (a sign-off after month end) gets a new
seal with a larger length, naming the one before.

`verify_month` reads the partition and the month's seals and compares them (checks/journal/
integrity.py gives the chain's own findings).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from checks import __version__
from checks.engine.i18n import msg, msgn
from checks.engine.redact import redact
from checks.engine.timeutil import month_of
from checks.journal.chain import HEAD_ROW, exported, is_anchor, members_of, short_digest
from checks.journal.integrity import PartitionCheck, verify_rows

log = logging.getLogger("checks.journal.seal")

SEAL_PREFIX = "seals"
MONTH_FOLDER = re.compile(r"\d{4}-\d{2}\Z")  # seals/deviation/ holds the deviation chain's (seal_deviations)
FORMAT = 1


class SealUnavailable(Exception):
    """The seal container could not be read or written (the reason, redacted)."""


@dataclass
class Seal:
    name: str
    body: dict[str, Any]
    sha256: str

    @property
    def length(self) -> int:
        return int(self.body.get("chain_length", 0) or 0)


def seal_name(month: str, length: int) -> str:
    return f"{SEAL_PREFIX}/{month}/{length:06d}.json"


def build_seal(month: str, rows: list[dict[str, Any]], previous: Seal | None, reason: str,
               now: datetime) -> dict[str, Any]:
    head = next((r for r in rows if r.get("RowKey") == HEAD_ROW), {})
    entities = sorted((r for r in rows if r.get("RowKey") != HEAD_ROW), key=lambda r: str(r.get("RowKey")))
    return {"format": FORMAT, "month": month, "sealed_at": now.astimezone(timezone.utc).isoformat(),
            "reason": reason, "chain_head": str(head.get("ChainHash", "")), "chain_row": str(head.get("ChainRow", "")),
            "chain_length": int(head.get("ChainLength", 0) or 0), "entity_count": len(entities),
            "rows": {str(r["RowKey"]): short_digest(r) for r in entities},
            "previous_seal": {"name": previous.name, "sha256": previous.sha256} if previous else None,
            "app_version": __version__, "export": [exported(r) for r in entities]}


def container_client(settings: Any, service: Any = None) -> Any:
    from checks.journal.lease import blob_service_for_journal
    try:
        service = service or blob_service_for_journal(settings)
    except ValueError as exc:
        raise SealUnavailable(exc.args[0] if exc.args else str(exc)) from None  # a Message keeps its id
    return service.get_container_client(settings.journal_seal_container)


def read_seals(container: Any, month: str) -> list[Seal]:
    """The month's seals, oldest (shortest chain) first; [] when there are none or no container."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    out = []
    try:
        for item in container.list_blobs(name_starts_with=f"{SEAL_PREFIX}/{month}/"):
            data = container.get_blob_client(item.name).download_blob().readall()
            out.append(_parsed(item.name, data))
    except ResourceNotFoundError:
        return []
    except AzureError as exc:
        raise SealUnavailable(msg("seal container {container}: {reason}",
                                  container=getattr(container, "container_name", ""), reason=redact(_first(exc)))) from None
    return sorted(out, key=lambda s: (s.length, s.name))


def _parsed(name: str, data: bytes) -> Seal:
    try:
        body = json.loads(data)
    except ValueError:
        body = {}
    return Seal(name, body if isinstance(body, dict) else {}, hashlib.sha256(data).hexdigest())


def seal_month(journal: Any, container: Any, month: str, reason: str, now: datetime | None = None) -> str:
    """Write the month's seal unless its newest seal already holds the current head: the blob name,
    or "" when nothing new had to be sealed. Never overwrites a blob (If-None-Match: *)."""
    return _write_seal(container, month, journal.partition(month), reason, now or datetime.now(timezone.utc))


def seal_deviations(journal: Any, container: Any, reason: str, now: datetime | None = None) -> str:
    """The `deviation` partition's chain head (checks/journal/deviations.py), sealed whenever a month is:
    blob `seals/deviation/<length>.json`, written once like a month's; "" when there is nothing new.
    Its own blobs, not a field of the month's seal: that chain grows in every month, and a month whose
    head did not change gets no new seal (nor one after its sign-off), so a deviation head kept inside
    it would stay unsealed; verify also wants the newest deviation seal whatever the month."""
    from checks.journal.deviations import PARTITION, chained_rows
    rows = chained_rows(journal.partition(PARTITION))
    if not any(r.get("RowKey") != HEAD_ROW for r in rows):
        return ""
    return _write_seal(container, PARTITION, rows, reason, now or datetime.now(timezone.utc))


def _write_seal(container: Any, month: str, rows: list[dict[str, Any]], reason: str, now: datetime) -> str:
    from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
    seals = read_seals(container, month)
    body = build_seal(month, rows, seals[-1] if seals else None, reason, now)
    if seals and _same_state(seals[-1].body, body):
        return ""
    name, data = seal_name(month, body["chain_length"]), json.dumps(body, sort_keys=True, indent=1).encode()
    for attempt in (1, 2):
        try:
            container.get_blob_client(name).upload_blob(data, overwrite=False)
            # WARNING so it reaches the logs at logLevel=warning (the audit trail); outcome_line: the CLI says
            # it in the reader's language instead, unless -v
            log.warning("journal %s sealed: %s (chain length %d, entities %d, %s)", month, name,
                        body["chain_length"], body["entity_count"], reason, extra={"outcome_line": True})
            return name
        except ResourceExistsError:
            return name  # sealed at this length already: verify compares that seal with the table
        except ResourceNotFoundError:
            if attempt == 2:
                raise SealUnavailable(msg("seal container {container} not found",
                                          container=container.container_name)) from None
            _create_container(container)  # a local journal (Azurite); in Azure the container comes from infra
        except AzureError as exc:
            raise SealUnavailable(msg("seal {name}: {reason}", name=name, reason=redact(_first(exc)))) from None
    return name


def seal_quietly(settings: Any, journal: Any, month: str, reason: str, now: datetime | None = None) -> str:
    """seal_month for a sign-off or the monthly timer: a failure is logged (journal verify reports the
    month as not sealed), never raised: the sign-off or the run stands without it."""
    from checks.engine.model import JournalUnavailable
    try:
        container = container_client(settings)
        name = seal_month(journal, container, month, reason, now)
    except (SealUnavailable, JournalUnavailable) as exc:
        log.error("journal %s not sealed (%s): %s", month, reason, redact(str(exc)))
        return ""
    try:
        seal_deviations(journal, container, reason, now)  # the deviation chain's head with it
    except (SealUnavailable, JournalUnavailable) as exc:
        log.error("journal deviation partition not sealed (%s): %s", reason, redact(str(exc)))
    return name


def seal_last_month(settings: Any, journal: Any, now: datetime | None = None) -> str:
    """The monthly timer: seal the month that ended (nothing when the journal is not configured)."""
    now = now or datetime.now(timezone.utc)
    return seal_quietly(settings, journal, previous_month(now), "month-end", now) if journal is not None else ""


def previous_month(now: datetime) -> str:
    first = now.astimezone(timezone.utc).date().replace(day=1)
    return month_of(datetime(first.year, first.month, 1, tzinfo=timezone.utc) - timedelta(days=1))


def _create_container(container: Any) -> None:
    from azure.core.exceptions import ResourceExistsError
    try:
        container.create_container()
    except ResourceExistsError:
        pass


def _same_state(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return all(old.get(k) == new.get(k) for k in ("chain_head", "chain_length", "entity_count", "rows"))


def compare(result: PartitionCheck, rows: list[dict[str, Any]], seals: list[Seal], now: datetime) -> PartitionCheck:
    """Add what the seals say to the chain's findings: rows deleted or edited since a seal, entities
    inserted before the newest seal's head, a rewritten chain, a missing or changed seal."""
    entities = {str(r.get("RowKey")): r for r in rows if r.get("RowKey") != HEAD_ROW}
    result.seals = len(seals)
    previous: Seal | None = None
    for seal in seals:
        _compare_one(result, entities, seal, previous)
        previous = seal
    newest = seals[-1] if seals else None
    result.sealed_links = newest.length if newest else 0
    if newest is not None:
        _inserted_since(result, entities, newest)
    past = bool(MONTH_FOLDER.match(result.partition)) and result.partition < month_of(now)  # not `deviation`
    if past and entities and (newest is None or result.links > newest.length):
        result.add("unsealed", seal_name(result.partition, result.links), msgn(
            "{count} link of a past month after the newest seal", "{count} links of a past month after the newest seal",
            "count", count=result.links - result.sealed_links) if result.links > result.sealed_links
            else msg("a past month that was never sealed"))
    return result


def _compare_one(result: PartitionCheck, entities: dict[str, dict[str, Any]], seal: Seal,
                 previous: Seal | None) -> None:
    body = seal.body
    if body.get("format") != FORMAT or body.get("month") != result.partition or not isinstance(body.get("rows"), dict):
        result.add("seal", seal.name, msg("unreadable or not a seal of this month"))
        return
    expected = {"name": previous.name, "sha256": previous.sha256} if previous else None
    if body.get("previous_seal") != expected:
        result.add("seal", seal.name, msg("the previous seal it names is missing or was changed"))
    for row_key, digest in sorted(body["rows"].items()):
        row = entities.get(row_key)
        if row is None:
            result.add("deleted", row_key, msg("sealed in {seal}", seal=seal.name))
        elif short_digest(row) != digest:
            result.add("edited", row_key, msg("differs from {seal}", seal=seal.name))
    anchor = entities.get(str(body.get("chain_row", "")))
    if seal.length and (anchor is None or anchor.get("ChainHash") != body.get("chain_head")):
        result.add("seal", seal.name, msg("the chain head it sealed is no longer in the table (chain rewritten)"))


def _inserted_since(result: PartitionCheck, entities: dict[str, dict[str, Any]], newest: Seal) -> None:
    """Entities not in the newest seal must belong to links appended after it."""
    later: set[str] = set()
    for row in entities.values():
        if is_anchor(row) and _int(row.get("ChainSeq")) > newest.length:
            later.add(str(row["RowKey"]))
            later.update((members_of(row) or {}).keys())
    for row_key in sorted(set(entities) - set(newest.body.get("rows", {})) - later):
        result.add("inserted", row_key, msg("not in {seal} nor in a later link", seal=newest.name))


def verify_month(journal: Any, container: Any, month: str, now: datetime | None = None) -> PartitionCheck:
    """The month's chain (one partition query with the service's write times) against its seals."""
    rows = journal.partition_stamped(month)
    result = verify_rows(month, rows)
    return compare(result, rows, read_seals(container, month), now or datetime.now(timezone.utc))


def sealed_months(container: Any) -> list[str]:
    """Months that have at least one seal (one listing of the container)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    try:
        names = [b.name for b in container.list_blobs(name_starts_with=f"{SEAL_PREFIX}/")]
    except ResourceNotFoundError:
        return []
    except AzureError as exc:
        raise SealUnavailable(msg("seal container: {reason}", reason=redact(_first(exc)))) from None
    return sorted({n.split("/")[1] for n in names if n.count("/") == 2 and MONTH_FOLDER.match(n.split("/")[1])})


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _first(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


__all__ = ["Seal", "SealUnavailable", "seal_month", "seal_deviations", "verify_month", "read_seals", "sealed_months"]
