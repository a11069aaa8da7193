"""`database.signed_document`: the newest signed document's file is in Blob Storage and intact.

Part of the database family (registered under `database.*`, so the restore drill runs it on the
restored server too); kept in its own module because it also reads Blob Storage. The table and
columns come from SIGNED_DOCUMENT_* settings and are only passed to PostgreSQL as quoted identifiers.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from checks.connect.database import query_error, session
from checks.engine.config import DATABASE, Settings
from checks.engine.context import RunContext
from checks.engine.i18n import msg
from checks.engine.valueparse import reason_of
from checks.engine.model import CheckError, NotConfigured, Outcome
from checks.engine.redact import first_line, redact
from checks.engine.controls import INTEGRITY
from checks.engine.registry import check
from checks.engine.timeutil import plain
from checks.families.database import TableSpec


@dataclass(frozen=True)
class SignedDocumentFacts:
    table: str
    found: bool
    blob_path: str | None = None
    ordered_at: Any = None  # value of SIGNED_DOCUMENT_ORDER_COLUMN of the newest one
    stored_checksum: str | None = None
    checksum_column: str | None = None
    container: str | None = None
    blob_checked: bool = False
    not_checked_reason: str | None = None  # blob side not configured
    blob_exists: bool | None = None
    blob_missing_code: str | None = None  # BlobNotFound / ContainerNotFound
    blob_size: int | None = None
    actual_sha256: str | None = None
    extra: dict = field(default_factory=dict)
    path_problem: str | None = None  # set when the path would leave its container (never read then)


def blob_path_problem(path: str) -> str | None:
    """Why a blob name from the database would leave its container, or None when it stays inside.

    `..` or `.` segments, a leading `/`, backslashes, and the same once percent-decoded (repeatedly:
    `%252e%252e`) are refused: a name must not reach another container's blob."""
    decoded, seen = path, set()
    while decoded not in seen and len(seen) < 5:
        seen.add(decoded)
        decoded = unquote(decoded)
    for form in seen | {decoded}:
        if "\\" in form:
            return msg("it contains a backslash")
        if form.startswith("/"):
            return msg("it starts with /")
        if any(seg in ("..", ".") for seg in form.split("/")):
            return msg("it has a '..' or '.' segment once percent-decoded") if form != path \
                else msg("it has a '..' or '.' segment")
    return None


def normalize_sha256(value: str | None) -> str | None:
    """Hex (any case) or base64 sha256 → lowercase hex; None when absent or not a sha256."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def evaluate_signed_document(facts: SignedDocumentFacts, settings: Settings) -> Outcome:
    """Passes when a signed document exists and the newest one's file is in Blob Storage, with a
    matching sha256 when a checksum is stored. Fails when there is no signed document, the newest
    has no file path, its file is missing, or its hash differs. Warns when the file could not be
    verified because the blob side (SIGNED_DOCUMENT_CONTAINER, blob access) is not configured, or
    the stored checksum is not a sha256."""
    details: dict[str, Any] = {"table": facts.table, "blob_path": facts.blob_path,
                               "ordered_at": plain(facts.ordered_at), "container": facts.container,
                               "blob_checked": facts.blob_checked}
    if not facts.found:
        return Outcome.fail(msg("no signed document in {table}", table=facts.table),
                            msg("Check SIGNED_DOCUMENT_TABLE / SIGNED_DOCUMENT_SIGNED_COLUMN, and whether the "
                                "application's signed documents are in this database."), **details)
    if not facts.blob_path:
        return Outcome.fail(msg("the newest signed document in {table} has no file path ({column} is empty)",
                                table=facts.table, column=settings.signed_document_path_column),
                            msg("Check SIGNED_DOCUMENT_PATH_COLUMN and the application's document upload."),
                            **details)
    if facts.path_problem:
        details["blob_path"] = str(facts.blob_path)[:300]
        return Outcome.fail(msg("the newest signed document's path leaves the container ({problem}): {path}; "
                                "the file was not read", problem=facts.path_problem,
                                path=repr(str(facts.blob_path)[:200])),
                            msg("Find out how this path got into the documents table: paths must be blob names "
                                "inside SIGNED_DOCUMENT_CONTAINER."), **details)
    if not facts.blob_checked:
        details["not_checked_reason"] = facts.not_checked_reason
        return Outcome.warn(msg("newest signed document found ({path}), but its file was NOT verified: {reason}",
                                path=facts.blob_path, reason=facts.not_checked_reason),
                            msg("Set SIGNED_DOCUMENT_CONTAINER and BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) "
                                "so the file is checked in Blob Storage."), **details)
    return _evaluate_file(facts, details)


def _evaluate_file(facts: SignedDocumentFacts, details: dict[str, Any]) -> Outcome:
    """The file of the newest signed document, once read: present, and the stored sha256 matches."""
    where = f"{facts.container}/{facts.blob_path}"
    if not facts.blob_exists:
        details["blob_error"] = facts.blob_missing_code
        reason = msg("the container does not exist") if facts.blob_missing_code == "ContainerNotFound" \
            else msg("no such blob")
        return Outcome.fail(msg("the newest signed document's file {where} is missing ({reason})", where=where,
                                reason=reason),
                            msg("Restore the file from soft delete / a previous version, and find out how it "
                                "was lost; check SIGNED_DOCUMENT_CONTAINER."), **details)
    details["size"] = facts.blob_size
    if facts.checksum_column is None:
        return Outcome.passed(msg("newest signed document's file {where} exists ({size} bytes; "
                                  "SIGNED_DOCUMENT_CHECKSUM_COLUMN not set, hash not compared)", where=where,
                                  size=facts.blob_size), **details)
    if facts.stored_checksum in (None, ""):
        return Outcome.passed(msg("newest signed document's file {where} exists ({size} bytes; no checksum "
                                  "stored for it, hash not compared)", where=where, size=facts.blob_size), **details)
    expected = normalize_sha256(facts.stored_checksum)
    details.update(expected_sha256=expected, actual_sha256=facts.actual_sha256)
    if expected is None:
        details["stored_checksum"] = str(facts.stored_checksum)[:100]
        return Outcome.warn(msg("file {where} exists, but the stored checksum is not a sha256 (hex or base64)",
                                where=where),
                            msg("Check SIGNED_DOCUMENT_CHECKSUM_COLUMN."), **details)
    if expected != facts.actual_sha256:
        return Outcome.fail(msg("the newest signed document's file {where} does not match its stored sha256 "
                                "(stored {stored}..., file {actual}...)", where=where, stored=expected[:12],
                                actual=str(facts.actual_sha256)[:12]),
                            msg("The file was altered or replaced: restore the signed original from a previous "
                                "version / soft delete and investigate."), **details)
    return Outcome.passed(msg("newest signed document's file {where} exists and its sha256 matches ({size} bytes)",
                              where=where, size=facts.blob_size), **details)


def read_newest_signed(conn: Any, settings: Settings) -> tuple[bool, Any, Any, Any]:
    """(found, path, order value, stored checksum) of the newest signed document."""
    import psycopg
    from psycopg import sql

    spec = TableSpec.parse(settings.signed_document_table)
    table = sql.Identifier(spec.schema, spec.table) if spec.schema is not None else sql.Identifier(spec.table)
    checksum = (sql.Identifier(settings.signed_document_checksum_column)
                if settings.signed_document_checksum_column else sql.NULL)
    order = sql.Identifier(settings.signed_document_order_column)
    query = sql.SQL("select {path}, {order}, {checksum} from {table} where {signed} is true "
                    "order by {order} desc nulls last limit 1").format(
        path=sql.Identifier(settings.signed_document_path_column), order=order, checksum=checksum,
        table=table, signed=sql.Identifier(settings.signed_document_signed_column))
    try:
        row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        raise query_error(exc, msg("signed documents in {table}", table=spec.name)) from None
    if row is None:
        return False, None, None, None
    return True, row[0], row[1], row[2]


def hash_blob(ctx: RunContext, container: str, path: str, with_hash: bool) -> dict[str, Any]:
    """exists/size (and sha256 streamed chunk by chunk, each chunk MD5-checked in transit)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError, ServiceRequestError
    from checks.connect.azure import arm_error, blob_service

    blob = blob_service(ctx).get_blob_client(container, path)
    try:
        if not with_hash:
            return {"exists": True, "size": blob.get_blob_properties().size}
        # validate_content: the first request is max_chunk_get_size (4 MiB), not max_single_get_size
        # (32 MiB), so at most one chunk is in memory at a time
        downloader = blob.download_blob(validate_content=True)
        digest, size = hashlib.sha256(), 0
        for chunk in downloader.chunks():
            digest.update(chunk)
            size += len(chunk)
        return {"exists": True, "size": size, "sha256": digest.hexdigest()}
    except ResourceNotFoundError as exc:
        return {"exists": False, "code": getattr(exc, "error_code", None) or "BlobNotFound"}
    except ServiceRequestError as exc:
        raise CheckError(msg("cannot reach Blob Storage for {blob}: {reason}", blob=f"{container}/{path}",
                             reason=redact(first_line(str(exc)))[:300]),
                         msg("Check BLOB_ACCOUNT_URL / BLOB_CONNECTION_STRING and the network path to the "
                             "account.")) from None
    except AzureError as exc:
        raise arm_error(exc, msg("blob {blob}", blob=f"{container}/{path}"), msg("the configured storage account"),
                        role="Storage Blob Data Reader") from None


@check(id="database.signed_document", title="Newest signed document: file present and intact", severity="high",
       remediation="Check that signed documents' files are in Blob Storage and unchanged.",
       risk="A database restore is useless for signed documents whose files are gone or altered.",
        controls=INTEGRITY)
def signed_document(ctx: RunContext) -> Outcome:
    s = ctx.settings
    s.require(DATABASE, "signed_document_table")  # every missing variable at once
    with session(ctx) as conn:
        found, path, ordered_at, stored = read_newest_signed(conn, s)
    path = str(path) if path else path
    base = dict(table=s.signed_document_table, found=found, blob_path=path, ordered_at=ordered_at,
                stored_checksum=stored, checksum_column=s.signed_document_checksum_column,
                container=s.signed_document_container, path_problem=blob_path_problem(path) if path else None)
    if not found or not path or base["path_problem"]:
        return evaluate_signed_document(SignedDocumentFacts(**base), s)
    try:
        s.require("signed_document_container", ("blob_account_url", "blob_connection_string"))
    except NotConfigured as exc:
        return evaluate_signed_document(SignedDocumentFacts(**base, not_checked_reason=reason_of(exc)), s)
    blob = hash_blob(ctx, s.signed_document_container, path,
                     with_hash=bool(s.signed_document_checksum_column and stored))
    return evaluate_signed_document(SignedDocumentFacts(
        **base, blob_checked=True, blob_exists=blob["exists"], blob_missing_code=blob.get("code"),
        blob_size=blob.get("size"), actual_sha256=blob.get("sha256")), s)


__all__ = ["SignedDocumentFacts", "evaluate_signed_document", "normalize_sha256", "read_newest_signed",
           "hash_blob"]
