"""Azure SDK clients, built once per run from the run context, and ARM error translation.

Clients get the run's credential and `ctx.azure_kwargs` (tests inject `transport=`,
`retry_total=0`, `polling_interval=0`). The SDK does retries, paging and long-running-operation
polling; we never hand-write those. SDK imports are lazy so the function app cold-starts fast.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Callable

from checks.engine.context import RunContext
from checks.engine.i18n import msg
from checks.engine.model import CheckError
from checks.engine.redact import first_line, redact

READER_ROLE = "Storage Blob Data Reader"


def sdk_text(value: Any) -> str | None:
    """An SDK model's enum (a str subclass) or string as plain text for facts and the journal."""
    return None if value is None else str(getattr(value, "value", value))


def postgres_client(ctx: RunContext) -> Any:
    """PostgreSQLManagementClient for AZURE_SUBSCRIPTION_ID (NotConfigured if unset)."""
    ctx.settings.require("azure_subscription_id")

    def build():
        from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
        prepare_postgres_models()
        return PostgreSQLManagementClient(ctx.get_credential(), ctx.settings.azure_subscription_id,
                                          **ctx.azure_kwargs)
    return ctx.client("postgres-mgmt", build)


_models_lock = threading.Lock()
_models_ready = False


def prepare_postgres_models() -> None:
    """Set every model class of the PostgreSQL SDK up once per process, on one thread, before any check reads.

    Why: azure-mgmt-postgresqlflexibleservers 3.0.0 sets a model class up on its first instantiation, without
    a lock (_utils/model_base.py, Model.__new__). Checks deserializing at once in a fresh process can meet a
    half-set-up class and get a raw dict for a nested model: seen in bench/bench_fleet.py, four postgres
    checks of one run crashed with "'dict' object has no attribute 'geo_redundant_backup'".
    """
    global _models_ready
    with _models_lock:
        if _models_ready:
            return
        from azure.mgmt.postgresqlflexibleservers import models
        for cls in vars(models).values():
            if isinstance(cls, type) and isinstance(getattr(cls, "_calculated", None), set):  # the SDK's models only
                cls.__new__(cls)  # sets the class up (its fields' types), creates nothing we keep
        _models_ready = True


def storage_client(ctx: RunContext) -> Any:
    """StorageManagementClient for AZURE_SUBSCRIPTION_ID (NotConfigured if unset)."""
    ctx.settings.require("azure_subscription_id")

    def build():
        from azure.mgmt.storage import StorageManagementClient
        return StorageManagementClient(ctx.get_credential(), ctx.settings.azure_subscription_id,
                                       **ctx.azure_kwargs)
    return ctx.client("storage-mgmt", build)


def blob_service(ctx: RunContext) -> Any:
    """BlobServiceClient: BLOB_ACCOUNT_URL + credential, or BLOB_CONNECTION_STRING (local)."""
    settings = ctx.settings
    if not (settings.blob_account_url or settings.blob_connection_string):
        ctx.settings.require("blob_account_url")

    def build():
        from azure.storage.blob import BlobServiceClient
        kwargs = {k: v for k, v in ctx.azure_kwargs.items() if k != "polling_interval"}
        if settings.blob_account_url:
            return BlobServiceClient(settings.blob_account_url, credential=ctx.get_credential(), **kwargs)
        return BlobServiceClient.from_connection_string(settings.blob_connection_string, **kwargs)
    return ctx.client("blob-data", build)


def fetch_once(ctx: RunContext, key: str, fetch: Callable[[], Any]) -> Any:
    """`fetch()` once per run under `key`, shared by every check that needs the same ARM read.

    A CheckError (403, 404, throttling...) is kept too, so the checks sharing a read that failed
    report the same error without asking Azure again.
    """
    def build() -> tuple[Any, CheckError | None]:
        try:
            return fetch(), None
        except CheckError as exc:
            return None, exc
    value, error = ctx.client(key, build)
    if error is not None:
        raise error
    return value


def storage_target(ctx: RunContext) -> tuple[str, str, str]:
    """(account, resource group, "resource group rg (subscription s)") of STORAGE_ACCOUNT_NAME."""
    s = ctx.settings
    s.require("azure_subscription_id", "storage_resource_group", "storage_account_name")
    return (s.storage_account_name, s.storage_resource_group,
            msg("resource group {group} (subscription {subscription})", group=s.storage_resource_group,
                subscription=s.azure_subscription_id))


def storage_read(ctx: RunContext, what: str, call: Callable[[Any, str, str], Any]) -> Any:
    """One management-plane read about the checked account, once per run (errors mapped)."""
    account, rg, scope = storage_target(ctx)  # NotConfigured → skipped before any SDK import
    client = storage_client(ctx)

    def fetch():
        from azure.core.exceptions import AzureError
        try:
            return call(client, rg, account)
        except AzureError as exc:
            raise arm_error(exc, msg("storage account {account}", account=account), scope) from exc
    return fetch_once(ctx, f"{what}:{rg}/{account}", fetch)


def blob_service_properties(ctx: RunContext) -> Any:
    """GET .../blobServices/default: soft delete, versioning, change feed, restore policy."""
    props = storage_read(ctx, "blob-service-properties",
                          lambda c, rg, account: c.blob_services.get_service_properties(rg, account))
    return props.blob_service_properties


def storage_account(ctx: RunContext) -> Any:
    """GET .../storageAccounts/{account}: the account's properties (shared key, WORM, TLS...)."""
    return storage_read(ctx, "storage-account", lambda c, rg, account: c.storage_accounts.get_properties(rg, account))


def arm_error(exc: Exception, resource: str, scope: str, role: str = "Reader") -> CheckError:
    """Translate an SDK exception about `resource` (e.g. "server medicapp-db") into a CheckError.

    `scope` says where it was looked for ("resource group rg (subscription s)"); `role` is the
    least role that would let the verifier read it.
    """
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    status = getattr(exc, "status_code", None)
    if status is None and getattr(exc, "response", None) is not None:
        status = getattr(exc.response, "status_code", None)
    message = redact(first_line(str(getattr(exc, "message", None) or exc)))
    details = {"http_status": status} if status else {}
    if isinstance(exc, ClientAuthenticationError) and status is None:
        tried = credentials_tried(str(getattr(exc, "message", None) or exc))
        reason = msg("no Azure credential available: {message} Tried: {tried}.", message=message[:400],
                     tried=", ".join(tried)) if tried else msg("no Azure credential available: {message}",
                                                               message=message[:400])
        return CheckError(reason, msg("Give the Function App a managed identity, or sign in locally (az login, VS "
                                      "Code, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET in the "
                                      "environment)."), {"credentials_tried": tried} if tried else {})
    if status in (401, 403):
        return CheckError(msg("access denied ({status}) reading {resource}", status=status, resource=resource),
                          msg("Grant the function's identity {role} on {resource}.", role=role, resource=resource),
                          details)
    if status == 404:
        return CheckError(msg("{resource} not found in {scope}", resource=resource, scope=scope),
                          msg("Check the name, resource group and subscription of {resource}.", resource=resource),
                          details)
    if status == 429 or (status and status >= 500):
        return CheckError(msg("Azure answered {code} for {resource} after the SDK's retries: {message}", code=status,
                              resource=resource, message=message[:300]),
                          msg("Transient Azure error or throttling: the next run retries; if it persists, "
                              "check Azure status and the subscription's request limits."), details)
    if isinstance(exc, ServiceRequestError):
        return CheckError(msg("cannot reach Azure for {resource}: {message}", resource=resource, message=message[:300]),
                          msg("Check the Function App's outbound network access to management.azure.com."))
    if isinstance(exc, HttpResponseError):
        return CheckError(msg("Azure error for {resource}: {message}", resource=resource, message=message[:300]),
                          None, details)
    return CheckError(msg("{error} for {resource}: {message}", error=type(exc).__name__, resource=resource,
                          message=message[:300]))


def account_label(service: Any) -> str:
    return getattr(service, "account_name", None) or getattr(service, "url", "?")


def data_plane_error(exc: Exception, account: str, container: str | None, action: str,
                     role: str = READER_ROLE, role_scope: str | None = None) -> CheckError:
    """Translate a Blob data-plane exception into a CheckError that names what to do.

    `action` says what was attempted ("listing blobs"); `role` is the least data role that allows
    it and `role_scope` where to assign it (default: the account, or the container).
    """
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    where = (msg("container {container} of storage account {account}", container=container, account=account)
             if container else msg("storage account {account}", account=account))
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)
    text = str(getattr(exc, "message", None) or exc).strip()
    message = redact(text.splitlines()[0][:300]) if text else type(exc).__name__
    details: dict[str, Any] = {"account": account}
    if container:
        details["container"] = container
    if status:
        details["http_status"] = status
    if code:
        details["error_code"] = str(code)
    scope = role_scope or where
    if isinstance(exc, ClientAuthenticationError) and status is None:
        return CheckError(msg("no Azure credential available for {where}: {message}", where=where, message=message),
                          msg("Give the Function App a managed identity, or sign in locally (az login), or set "
                              "BLOB_CONNECTION_STRING for a local emulator."), details)
    if status == 403:
        return _access_denied(code, account, action, where, role, scope, details)
    if status == 401:
        return CheckError(msg("not authenticated (401) {action} in {where}", action=action, where=where),
                          msg("Check the credential of the verifier and grant it {role} on {scope}.", role=role,
                              scope=scope), details)
    if status == 404:
        return _not_found(code, account, container, action, where, details)
    if isinstance(exc, ServiceRequestError):
        return CheckError(msg("cannot reach storage account {account} {action}: {message}", account=account,
                              action=action, message=message),
                          msg("Check BLOB_ACCOUNT_URL (does storage account {account} exist? a misspelt account "
                              "name does not resolve in DNS) and the Function App's outbound network access to "
                              "*.blob.core.windows.net.", account=account), details)
    if status == 429 or (status and status >= 500):
        return CheckError(msg("Azure Storage answered {code} {action} in {where} after the SDK's retries: {message}",
                              code=status, action=action, where=where, message=message),
                          msg("Transient Azure error or throttling: the next run retries."), details)
    if isinstance(exc, HttpResponseError):
        return CheckError(msg("Azure Storage error {action} in {where}: {message}", action=action, where=where,
                              message=message), None, details)
    return CheckError(msg("{error} {action} in {where}: {message}", error=type(exc).__name__, action=action,
                          where=where, message=message), None, details)


def _access_denied(code: Any, account: str, action: str, where: str, role: str, scope: str,
                   details: dict[str, Any]) -> CheckError:
    if code == "AuthorizationFailure":
        remediation = msg("Access is blocked by the account's network rules or the request's authorization "
                          "type: allow the Function App's outbound addresses / VNet on storage account "
                          "{account}, and grant its identity {role} on {scope}.", account=account, role=role,
                          scope=scope)
    else:
        remediation = msg("Grant the function's identity the {role} role on {scope}.", role=role, scope=scope)
    return CheckError(msg("access denied ({code}) {action} in {where}", code=_http(403, code), action=action,
                          where=where), remediation, details)


def _not_found(code: Any, account: str, container: str | None, action: str, where: str,
               details: dict[str, Any]) -> CheckError:
    if code == "ContainerNotFound" or (container and code != "BlobNotFound"):
        return CheckError(msg("container {container} not found in storage account {account}",
                              container=container, account=account),
                          msg("Check BLOB_CONTAINERS / BLOB_CANARY_CONTAINER: container {container} does not "
                              "exist in storage account {account} (or the account URL points elsewhere).",
                              container=container, account=account), details)
    return CheckError(msg("not found ({code}) {action} in {where}", code=_http(404, code), action=action,
                          where=where), None, details)


def _http(status: int, code: Any) -> str:
    """'403' or '403 AuthorizationFailure': the status and Azure's error code, as Azure names them."""
    return f"{status} {code}" if code else str(status)


def credentials_tried(text: str) -> list[str]:
    """The credential names in azure-identity's "Attempted credentials:" list (names only: the
    per-credential messages are left out, they can quote environment details)."""
    _, found, rest = text.partition("Attempted credentials:")
    if not found:
        return []
    names: list[str] = []
    for line in rest.splitlines():
        if line.startswith("To mitigate"):
            break
        match = re.match(r"\t([A-Za-z]+Credential)\b", line)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names
