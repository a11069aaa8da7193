"""Targets found through Azure Resource Graph (DISCOVER_TAG) instead of listed in TARGETS.

One Resource Graph query over DISCOVER_SUBSCRIPTIONS (default AZURE_SUBSCRIPTION_ID) finds every
PostgreSQL flexible server and storage account carrying the tag; the SDK's `$skipToken`
continuation is followed by azure-core's pager. `group_targets` (pure) groups the rows by their
`medicapp-env` tag: one target per value, named after it, with at most one server and one
account. The groups become a TARGETS document and are parsed like one, so a discovered fleet
is validated exactly like a configured one.

The verifier's identity needs Reader where the tagged resources live; Reader includes
Microsoft.ResourceGraph/resources/read, and Resource Graph returns only the rows its caller may read.
The deployment grants it on each resource group discovery looks in (infra/modules/discovery-group.bicep:
DISCOVER_RESOURCE_GROUPS, else the production groups it knows), and on whole subscriptions only when
DISCOVER_SUBSCRIPTION_WIDE asks for it (infra/modules/discovery.bicep). A tagged server in a group
without that Reader is simply not found: the query still searches the subscriptions.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from checks.engine.context import RunContext
from checks.engine.fleet import FleetTarget, TargetsError, parse_targets

GROUP_TAG = "medicapp-env"
SERVER_TYPE = "microsoft.dbforpostgresql/flexibleservers"
ACCOUNT_TYPE = "microsoft.storage/storageaccounts"
KINDS = {SERVER_TYPE: "PostgreSQL server", ACCOUNT_TYPE: "storage account"}
ROLE = "Reader (it includes Microsoft.ResourceGraph/resources/read)"
_ID = re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/[^/]+/[^/]+/(?P<name>[^/]+)",
                 re.I)


class DiscoveryError(Exception):
    """Discovery failed or found an inconsistent fleet; `reason` says what, `remediation` what to do."""

    def __init__(self, reason: str, remediation: str | None = None):
        self.reason, self.remediation = reason, remediation
        super().__init__(reason + (f". {remediation}" if remediation else ""))


@dataclass(frozen=True)
class Found:
    """One tagged resource as Resource Graph returned it."""
    kind: str              # KINDS value
    name: str
    subscription: str
    resource_group: str
    env: str               # its medicapp-env tag value ("" when it has none)

    def label(self) -> str:
        return f"{self.kind} {self.name} (resource group {self.resource_group})"


@dataclass(frozen=True)
class Discovered:
    """One target made of the resources sharing a medicapp-env value."""
    name: str
    env: str
    server: Found | None = None
    account: Found | None = None


def discovery_query(tag: str) -> str:
    """The Resource Graph query: servers and accounts with the tag (the tag name is validated: no quotes).

    Azure tag names are case-insensitive, but a KQL property lookup (`tags['backup-verify']`) is not:
    a server tagged `Backup-Verify` would never be found. The tag's name is matched, case-insensitively
    (`contains`), as a whole JSON string among the tag names; `found_of` matches it exactly again."""
    return (f"Resources | where type in~ ('{SERVER_TYPE}', '{ACCOUNT_TYPE}') "
            f"| where tostring(bag_keys(tags)) contains '\"{tag}\"' | project id, name, type, tags | order by id asc")


def target_name_of(env: str) -> str:
    """A medicapp-env value as a target name: lowercase, runs of other characters as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", env.lower()).strip("-")[:40].strip("-")


def _tag(tags: Any, name: str) -> str | None:
    """A tag's value; Azure tag names are case-insensitive."""
    if not isinstance(tags, Mapping):
        return None
    return next((str(v) for k, v in tags.items() if str(k).lower() == name.lower()), None)


def found_of(row: Mapping[str, Any], tag: str) -> Found | None:
    """A Resource Graph row as Found; None for other resource types or rows without the tag."""
    kind = KINDS.get(str(row.get("type", "")).lower())
    match = _ID.match(str(row.get("id", "")))
    if kind is None or match is None or _tag(row.get("tags"), tag) is None:
        return None
    return Found(kind, str(row.get("name") or match["name"]), match["sub"], match["rg"],
                 (_tag(row.get("tags"), GROUP_TAG) or "").strip())


def group_targets(rows: Iterable[Mapping[str, Any]], tag: str) -> list[Discovered]:
    """Rows → one target per medicapp-env value, by name. DiscoveryError lists every inconsistency."""
    groups: dict[str, list[Found]] = {}
    problems: list[str] = []
    for found in filter(None, (found_of(row, tag) for row in rows)):
        name = target_name_of(found.env)
        if not name:
            problems.append(f"{found.label()} carries {tag} but no usable {GROUP_TAG} tag "
                            f"(got {found.env!r}): add {GROUP_TAG}=<environment>")
            continue
        groups.setdefault(name, []).append(found)
    targets = []
    for name, members in sorted(groups.items()):
        target, why = _one_target(name, members)
        problems.extend(why)
        targets.append(target)
    if problems:
        raise DiscoveryError("discovery found an inconsistent fleet: " + "; ".join(problems),
                             f"Give each environment one PostgreSQL server and one storage account with the tag "
                             f"{tag}, grouped by a distinct {GROUP_TAG} value.")
    return targets


def _one_target(name: str, members: list[Found]) -> tuple[Discovered, list[str]]:
    servers = [m for m in members if m.kind == KINDS[SERVER_TYPE]]
    accounts = [m for m in members if m.kind == KINDS[ACCOUNT_TYPE]]
    problems = [f"target {name} ({GROUP_TAG}={members[0].env}) has {len(same)} {same[0].kind}s: "
                f"{', '.join(m.label() for m in same)}" for same in (servers, accounts) if len(same) > 1]
    server, account = (servers or [None])[0], (accounts or [None])[0]
    if server and account and server.subscription.lower() != account.subscription.lower():
        problems.append(f"target {name}: {server.label()} is in subscription {server.subscription} but "
                        f"{account.label()} in {account.subscription}; one target lives in one subscription")
    return Discovered(name, members[0].env, server, account), problems


def fleet_of(discovered: list[Discovered]) -> tuple[FleetTarget, ...]:
    """The discovered targets as FleetTargets, through the TARGETS parser (same validation)."""
    document, missing = [], {}
    for target in discovered:
        either = target.server or target.account
        entry: dict[str, Any] = {"name": target.name, "postgres": {"subscription": either.subscription}}
        if target.server:
            entry["postgres"] |= {"resource_group": target.server.resource_group, "server": target.server.name}
        if target.account:
            entry["storage"] = {"resource_group": target.account.resource_group, "account": target.account.name}
        document.append(entry)
        missing[target.name] = tuple(p for p, f in (("postgres", target.server), ("storage", target.account)) if not f)
    if not document:
        return ()
    try:
        parsed = parse_targets(json.dumps(document))
    except TargetsError as exc:
        raise DiscoveryError(f"a discovered resource is not a valid target: {exc}") from None
    return tuple(dataclasses.replace(t, without=missing[t.name]) for t in parsed)


def resource_graph_client(ctx: RunContext) -> Any:
    """ResourceGraphClient (tenant-level endpoint: the subscriptions go in each query)."""
    def build():
        from azure.mgmt.resourcegraph import ResourceGraphClient  # lazy: cold start
        return ResourceGraphClient(ctx.get_credential(), **ctx.azure_kwargs)
    return ctx.client("resource-graph", build)


def discovery_scope(settings: Any) -> tuple[str, ...]:
    """DISCOVER_SUBSCRIPTIONS, else AZURE_SUBSCRIPTION_ID (DiscoveryError when neither is set)."""
    subscriptions = tuple(settings.discover_subscriptions) or (
        (settings.azure_subscription_id,) if settings.azure_subscription_id else ())
    if not subscriptions:
        raise DiscoveryError("DISCOVER_TAG is set but there is no subscription to search",
                             "Set DISCOVER_SUBSCRIPTIONS (comma-separated subscription ids) or AZURE_SUBSCRIPTION_ID.")
    return subscriptions


def query_rows(ctx: RunContext, subscriptions: tuple[str, ...], tag: str) -> Iterator[dict[str, Any]]:
    """Every row of the discovery query, page after page ($skipToken through azure-core's ItemPaged)."""
    from azure.core.paging import ItemPaged
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    client = resource_graph_client(ctx)

    def get_next(skip_token: str | None) -> Any:
        options = QueryRequestOptions(skip_token=skip_token, result_format="objectArray")
        return client.resources(QueryRequest(subscriptions=list(subscriptions), query=discovery_query(tag),
                                             options=options))

    def extract_data(response: Any) -> tuple[str | None, Iterator[dict[str, Any]]]:
        return response.skip_token or None, iter(response.data or [])
    return iter(ItemPaged(get_next, extract_data))


def discover_targets(ctx: RunContext) -> tuple[FleetTarget, ...]:
    """The fleet DISCOVER_TAG finds; DiscoveryError naming the permission on 403 or throttling."""
    from azure.core.exceptions import AzureError
    from checks.connect.azure import arm_error

    tag, subscriptions = ctx.settings.discover_tag, discovery_scope(ctx.settings)
    where = f"subscription {', '.join(subscriptions)}" if len(subscriptions) == 1 else \
        f"subscriptions {', '.join(subscriptions)}"
    try:
        rows = list(query_rows(ctx, subscriptions, tag))
    except AzureError as exc:
        error = arm_error(exc, where, "Azure Resource Graph", role=ROLE)
        raise DiscoveryError(f"discovery through Azure Resource Graph (tag {tag}) failed: {error.reason}",
                             error.remediation) from exc
    return fleet_of(group_targets(rows, tag))


def discover_fleet(settings: Any, ctx: RunContext | None = None) -> tuple[FleetTarget, ...]:
    """discover_targets, and DiscoveryError when the tag finds nothing usable (a fleet must not be empty).

    A `ctx` given is the caller's (its credential shared with the runs); one made here is closed here, so
    its Resource Graph client (an HTTP session) ends with the discovery."""
    own = RunContext(settings=settings) if ctx is None else None
    try:
        found = discover_targets(ctx or own)
    finally:
        if own is not None:
            own.close()
    if not found:
        raise DiscoveryError(f"no PostgreSQL flexible server or storage account carries the tag "
                             f"{settings.discover_tag}",
                             "Tag each environment's server and storage account with it (any value) and "
                             "with medicapp-env=<environment>, or set TARGETS. Discovery finds only what the "
                             "identity may read: Reader on each resource group holding them (DISCOVER_RESOURCE_GROUPS "
                             "when deploying).")
    return found
