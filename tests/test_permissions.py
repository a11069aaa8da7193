"""Permission contract: every request the product sent during this test session (ARM through the
CannedTransports, blob/table data plane through them and through Azurite; recorded by
tests/azure_fakes.py) is mapped to the RBAC action or data action Azure checks for it, and must be
granted by a role assignment of infra/ (built-in roles from tests/fixtures/roles/, custom roles
parsed from the Bicep) whose scope covers the resource. Also lists what is granted but never used.

These tests run last (tests/conftest.py orders them) and judge what the session recorded: run the
whole suite (`make test`). Alone they have nothing to judge and skip (and fail under CI).

The suite's fixtures name the deployment's parameters: `DEPLOYMENT` says which names stand for
production, the drill resource group, the checked account and the journal (Azurite has one account
for all: tables and `verifier-locks` are the journal's, other containers the checked account's).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from azure_fakes import SESSION_REQUESTS, Sent
from docs_text import page
from test_infra import INFRA, body, resources_of

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = json.loads((Path(__file__).parent / "fixtures" / "roles" / "builtin_roles.json").read_text())
SUB = "/subscriptions/SUB"
ST = "Microsoft.Storage/storageAccounts"
PG = "Microsoft.DBforPostgreSQL/flexibleServers"
DEPLOYMENT = {
    "production": [("exampleresourcegroup", "exampleserver"), ("rg-medicapp", "medicapp-db"),
                   *((f"rg-t{i}", f"t{i}-db") for i in range(1, 5)),  # tests/test_drill_cadence.py's fleet
                   ("rg-gone", "gone-db")],  # its target whose server is gone (a start that fails before any record)
    # the deployment's drill group and each TARGETS target's own (main.bicep fleetDrill: the drill role on each)
    "drill_rgs": ["rg-medicapp-drills", "rg-medicapp-restore", "rg-b-drills"],
    "checked": ("rg-medicapp", "medicappdocs"),
    "canary": "canary",
    "journal": ("rg-verifier", "stjrnlverifier"),
    "host": ("rg-verifier", "sthostverifier"),
}


def account_id(rg_and_name: tuple[str, str]) -> str:
    return f"{SUB}/resourceGroups/{rg_and_name[0]}/providers/{ST}/{rg_and_name[1]}"


def scope_ids(file: str, symbol: str | None) -> list[str]:
    """The deployed resource ids behind a role assignment's scope symbol ('*' = any configured container)."""
    checked, journal = account_id(DEPLOYMENT["checked"]), account_id(DEPLOYMENT["journal"])
    containers = "blobServices/default/containers"
    return {
        ("modules/target-postgres.bicep", "server"):
            [f"{SUB}/resourceGroups/{rg}/providers/{PG}/{name}" for rg, name in DEPLOYMENT["production"]],
        ("modules/drill.bicep", None): [f"{SUB}/resourceGroups/{rg}" for rg in DEPLOYMENT["drill_rgs"]],
        # deployed on each resource group discovery looks in (by default the production groups)
        ("modules/discovery-group.bicep", None): sorted({f"{SUB}/resourceGroups/{rg}" for rg, _ in DEPLOYMENT["production"]}),
        ("modules/discovery.bicep", None): [SUB],  # only with discoverSubscriptionWide: each subscription it searches
        ("modules/target-storage.bicep", "account"): [checked],
        ("modules/target-storage.bicep", "containers"): [f"{checked}/{containers}/*"],
        ("modules/target-storage.bicep", "canary"): [f"{checked}/{containers}/{DEPLOYMENT['canary']}"],
        ("modules/target-storage.bicep", "changeFeedContainer"): [f"{checked}/{containers}/$blobchangefeed"],
        ("modules/functionapp.bicep", "hostAccount"): [account_id(DEPLOYMENT["host"])],
        # the suite's journal tables have a random name per test (JOURNAL_TABLE)
        ("modules/functionapp.bicep", "journalTableResource"): [f"{journal}/tableServices/default/tables/*"],
        ("modules/functionapp.bicep", "lockContainer"): [f"{journal}/{containers}/verifier-locks"],
        # the suite's seal containers have a random name per test (JOURNAL_SEAL_CONTAINER)
        ("modules/functionapp.bicep", "sealContainer"): [f"{journal}/{containers}/journal-seals",
                                                         f"{journal}/{containers}/seals-*"],
        # the suite's fleet queues have a random name per test (FLEET_QUEUE); the host's poison queue adds -poison
        ("modules/functionapp.bicep", "fleetQueue"): [f"{journal}/queueServices/default/queues/*"],
        ("modules/functionapp.bicep", "fleetPoisonQueue"): [f"{journal}/queueServices/default/queues/*-poison"],
        ("modules/functionapp.bicep", "appInsights"):
            [f"{SUB}/resourceGroups/rg-verifier/providers/Microsoft.Insights/components/appi-verifier"],
        ("modules/drill-network-join.bicep", "subnet"):
            [f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet-pg"],
        ("modules/drill-network-join.bicep", "zone"):
            [f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/privateDnsZones/pg.private.postgres"],
        # the CMK example's identities (tests/fixtures/arm/postgresql_ServersUpdateWithDataEncryptionEnabled.json)
        ("modules/drill-identity-assign.bicep", "userIdentity"):
            [f"{SUB}/resourceGroups/exampleresourcegroup/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
             f"{name}" for name in ("exampleprimaryidentity", "examplegeoredundantidentity")],
    }[(file, symbol)]


def resource_type(resource_id: str) -> str:
    """Microsoft.X/a/b for /subscriptions/../providers/Microsoft.X/a/NAME/b/NAME."""
    tail = resource_id.split("/providers/", 1)[1].split("/")
    return "/".join([tail[0]] + tail[1::2])


@dataclass(frozen=True)
class Grant:
    source: tuple[str, str]  # (bicep file, role assignment symbol)
    scopes: tuple[str, ...]
    actions: tuple[str, ...]
    data_actions: tuple[str, ...]


def grants(infra: Path = INFRA) -> list[Grant]:
    """Every role assignment in the Bicep: its role's permissions and its deployed scope ids."""
    from pycep import BicepParser

    out = []
    for path in sorted(infra.rglob("*.bicep")):
        rel, doc = path.relative_to(infra).as_posix(), BicepParser().parse(file_path=path)
        for name, res in resources_of(doc, "Microsoft.Authorization/roleAssignments").items():
            props, scope = body(res)["properties"], body(res).get("scope")
            scope = scope["operator"]["operands"]["operand_1"] if isinstance(scope, dict) else scope
            ids = scope_ids(rel, scope)
            if scope:  # the template's resource type must be the type the ids stand for
                assert all(resource_type(i) == doc["resources"][scope]["type"] for i in ids), (rel, scope)
            out.append(Grant((rel, name), tuple(ids), *role_permissions(doc, props["roleDefinitionId"])))
    return out


def role_permissions(doc: dict, role_ref) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(role_ref, dict) and "function" in role_ref:  # subscriptionResourceId(..., builtin)
        builtin = BUILTIN[doc["variables"][role_ref["function"]["parameters"]["resource_name_1"]]["value"]]
        return tuple(builtin["actions"]), tuple(builtin["dataActions"])
    symbol = role_ref["operator"]["operands"]["operand_1"]  # customRole.id
    (perm,) = body(doc["resources"][symbol])["properties"]["permissions"]
    return tuple(custom_list(doc, perm["actions"])), tuple(custom_list(doc, perm["dataActions"]))


def custom_list(doc: dict, value) -> list[str]:
    """A custom role's action list: a literal, a variable, or concat() of conditional literals (all taken)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return doc["variables"][value]["value"]
    args = value["function"]["parameters"].values()
    return [a for arg in args for a in arg["operator"]["operands"]["true_value"]]


# --- requests → (permission, kind, resource id) ------------------------------------------------------------

@dataclass(frozen=True)
class Need:
    permission: str
    data: bool  # a data action (else an action)
    resource: str
    request: str
    test: str = ""
    status: int = 0  # Azure's (Azurite's) answer


def arm_need(sent: Sent, path: str, origins: dict[str, str]) -> Need:
    """ARM: provider + resource types + read|write|delete (POST: the action's name + /action)."""
    path = re.sub(r"^/subscriptions/[^/]+", SUB, path)
    if path.lower() == "/providers/microsoft.resourcegraph/resources":
        # a Resource Graph query: Azure checks .../resources/read and returns only the rows the caller
        # may read in each subscription of the query (the tests' discovery scope is SUB): a Reader on a
        # resource group of SUB (discovery-group.bicep) answers it for that group's rows (`granting`)
        return Need("Microsoft.ResourceGraph/resources/read", False, SUB, f"{sent.method} {path}")
    tail = path.split("/providers/", 1)[1].split("/")
    if sent.method == "POST":
        permission = "/".join([tail[0]] + tail[1:-1:2] + [tail[-1], "action"])
    else:
        verb = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}[sent.method]
        permission = "/".join([tail[0]] + tail[1::2] + [verb])
    resource = path if len(tail) % 2 else path.rsplit("/", 1)[0]  # a list: its parent
    if "/locations/" in path and re.search(r"/(azureAsyncOperation|operationResults)/", path):
        resource = origins.get(path, path)  # an operation status: the resource whose operation it is
        if tail[0] == "Microsoft.Storage":  # Storage registers no locations/* status action; Learn, "Azure
            permission = STORAGE_POLL  # permissions for Storage": operations/read "Polls the status of an
            # asynchronous operation"
    return Need(permission, False, resource, f"{sent.method} {path}")


STORAGE_POLL = "Microsoft.Storage/operations/read"
BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers"
TABLE = "Microsoft.Storage/storageAccounts/tableServices/tables"


def blob_need(method: str, container: str, blob: str, query: dict) -> tuple[str, bool]:
    """Microsoft's 'Permissions for calling data operations' (Blob service)."""
    if not blob:
        if query.get("comp") == ["list"]:
            return f"{BLOB}/blobs/read", True  # List Blobs
        return f"{BLOB}/" + {"PUT": "write", "DELETE": "delete"}.get(method, "read"), False
    if method in ("GET", "HEAD"):
        return f"{BLOB}/blobs/read", True  # Get Blob / Get Blob Properties
    if method == "DELETE":
        return f"{BLOB}/blobs/delete", True
    return f"{BLOB}/blobs/write", True  # Put Blob, Set Metadata, Lease Blob, Undelete Blob


def table_need(method: str, name: str) -> tuple[str, bool]:
    """Microsoft's 'Permissions for calling data operations' (Table service)."""
    if name in ("Tables", "$batch"):
        return (f"{TABLE}/" + {"POST": "write", "DELETE": "delete"}.get(method, "read"), False) \
            if name == "Tables" else (f"{TABLE}/entities/write", True)
    if method == "GET":
        return f"{TABLE}/entities/read", True
    if method == "POST":
        return f"{TABLE}/entities/add/action", True  # Insert Entity
    return f"{TABLE}/entities/" + ("delete" if method == "DELETE" else "write"), True


QUEUE = "Microsoft.Storage/storageAccounts/queueServices/queues"


def queue_need(method: str, segments: list[str], query: dict) -> tuple[str, bool]:
    """Microsoft's 'Permissions for calling data operations' (Queue service) and the queue roles' descriptions."""
    if segments[1:2] != ["messages"]:
        return f"{QUEUE}/" + {"PUT": "write", "DELETE": "delete"}.get(method, "read"), False  # the queue itself
    if method == "POST":
        return f"{QUEUE}/messages/add/action", True  # Put Message
    if method == "GET":  # Peek Messages reads; Get Messages takes them (process)
        return f"{QUEUE}/messages/" + ("read" if query.get("peekonly") == ["true"] else "process/action"), True
    if method == "DELETE":
        return f"{QUEUE}/messages/process/action", True  # Delete Message (after Get Messages)
    return f"{QUEUE}/messages/write", True  # Update Message


def is_queue_request(url, segments: list[str]) -> bool:
    host = url.hostname or ""
    if any(f".{service}." in host for service in ("blob", "table", "queue")):
        return ".queue." in host
    return segments[1:2] == ["messages"]  # Azurite (path-style): only the queue service has /<queue>/messages


def is_table_request(method: str, url, first: str) -> bool:
    host = url.hostname or ""
    if ".table." in host or ".blob." in host:
        return ".table." in host
    # Azurite (path-style, one host): only the table service has these paths and methods
    return first in ("Tables", "$batch") or "(" in first or method in ("PATCH", "MERGE") or \
        (method == "POST" and "comp=" not in url.query)


def data_needs(sent: Sent, url) -> list[Need]:
    """A data plane request's needs: one, or for a table entity-group transaction ($batch) one per operation it
    carries, on the table it names (Azure authorizes a transaction's operations, not the batch URL)."""
    if sent.parts:
        return [data_need(dataclasses.replace(sent, method=method, url=part, parts=()), urlparse(part))
                for method, part in sent.parts]
    return [data_need(sent, url)]


def data_need(sent: Sent, url) -> Need:
    segments = [unquote(s) for s in url.path.split("/") if s]
    if url.hostname in ("127.0.0.1", "localhost"):
        segments = segments[1:]  # Azurite: /devstoreaccount1/...
    first = segments[0] if segments else ""
    if is_queue_request(url, segments):
        permission, data = queue_need(sent.method, segments, parse_qs(url.query))
        return Need(permission, data, account_id(DEPLOYMENT["journal"]) + f"/queueServices/default/queues/{first}",
                    f"{sent.method} /{first}/{'/'.join(segments[1:2])}")
    if is_table_request(sent.method, url, first):
        name = first.split("(", 1)[0]
        permission, data = table_need(sent.method, name)
        where = "" if name in ("Tables", "$batch") else f"/tables/{name}"
        return Need(permission, data, account_id(DEPLOYMENT["journal"]) + "/tableServices/default" + where,
                    f"{sent.method} /{first}")
    container, blob = first, "/".join(segments[1:])
    permission, data = blob_need(sent.method, container, blob, parse_qs(url.query))
    journal_own = container == "verifier-locks" or container.startswith(("journal-seals", "seals-"))  # + the seals
    account = DEPLOYMENT["journal"] if journal_own else DEPLOYMENT["checked"]
    return Need(permission, data, f"{account_id(account)}/blobServices/default/containers/{container}",
                f"{sent.method} /{container}{'/…' if blob else ''}?{url.query}")


ASSIGN = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"


def identity_needs(sent: Sent) -> list[Need]:
    """A PUT giving its resource user-assigned identities (a CMK source's restore): Azure checks assign on each
    identity (Learn, "Managed identities: ... assign a user-assigned identity ... needs .../assign/action")."""
    return [Need(ASSIGN, False, re.sub(r"^/subscriptions/[^/]+", SUB, identity), f"{sent.method} identity {identity}")
            for identity in sent.identities]


PERSON_FACES = ("checks/restore_cli.py",)  # incident restore --apply: the on-call person's identity (docs/incident-restore.md)


def needs(sent_list: list[Sent], person: bool = False) -> list[Need]:
    """What Azure checks for each request the product (checks/, function_app.py) sent: with the app's
    identity, or (person=True) with the on-call person's (incident restore through its CLI)."""
    origins: dict[str, str] = {}
    out = []
    for sent in sent_list:
        url = urlparse(sent.url)
        if url.hostname == "management.azure.com":
            found = [arm_need(sent, url.path, origins)] + identity_needs(sent)
            if sent.location:  # its operation's status URL is authorized against this resource
                origins[re.sub(r"^/subscriptions/[^/]+", SUB, urlparse(sent.location).path)] = found[0].resource
        else:
            found = data_needs(sent, url)
        by_person = any(face in sent.chain for face in PERSON_FACES)
        if (sent.origin.startswith("checks/") or sent.origin == "function_app.py") and by_person == person:
            out.extend(dataclasses.replace(need, test=sent.test, status=sent.status) for need in found)
    return out


# --- the contract ------------------------------------------------------------------------------------------

def matches(pattern: str, permission: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), permission, re.I) is not None


def covers(scope: str, resource: str) -> bool:
    # '*' stands for any CONFIGURED container: never a system one ($blobchangefeed, $logs...)
    pattern = re.escape(scope.lower()).replace(r"\*", r"[^/$][^/]*")
    return re.match(pattern + "(/|$)", resource.lower()) is not None


def in_group_of(scope: str, subscription: str) -> bool:
    """`scope` is a resource group of `subscription`."""
    return re.fullmatch(re.escape(subscription) + r"/resourceGroups/[^/]+", scope, re.I) is not None


def granting(need: Need, all_grants: list[Grant]) -> list[tuple[Grant, str]]:
    """The (assignment, pattern) pairs that allow `need`. A Resource Graph query (its resource: the subscription
    searched) is also answered by a grant on a resource group of that subscription, for that group's rows."""
    graph = need.permission.startswith("Microsoft.ResourceGraph/")
    found = []
    for grant in all_grants:
        if not any(covers(scope, need.resource) or (graph and in_group_of(scope, need.resource))
                   for scope in grant.scopes):
            continue
        for pattern in (grant.data_actions if need.data else grant.actions):
            if matches(pattern, need.permission):
                found.append((grant, pattern))
    return found


def judge(all_needs: list[Need], all_grants: list[Grant]) -> tuple[list[Need], set, set]:
    """(needs nothing grants, assignments never used, custom-role actions never used)."""
    missing, used_grants, used_patterns = [], set(), set()
    for need in all_needs:
        found = granting(need, all_grants)
        if not found:
            missing.append(need)
        for grant, pattern in found:
            used_grants.add(grant.source)
            used_patterns.add((grant.source, pattern))
    unused_grants = {g.source for g in all_grants} - used_grants
    custom = {(g.source, a) for g in all_grants for a in g.actions + g.data_actions
              if g.source[0] in ("modules/drill.bicep", "modules/drill-network-join.bicep",
                                 "modules/drill-identity-assign.bicep")}
    return missing, unused_grants, custom - used_patterns


@pytest.fixture(scope="module")
def recorded() -> list[Need]:
    product = needs(list(SESSION_REQUESTS))
    if not any("DBforPostgreSQL" in n.permission for n in product):
        if os.environ.get("CI"):
            pytest.fail("the permission contract needs the whole suite's requests: run pytest on tests/")
        pytest.skip("the permission contract judges the whole session: run the whole suite")
    return product


def explain(missing: list[Need]) -> str:
    return "\n".join(f"  {n.permission} on {n.resource} ({n.request}; {n.test})" for n in missing)


DISCOVERY = "modules/discovery.bicep"  # Reader on whole subscriptions, only with discoverTag and discoverSubscriptionWide
DISCOVERY_GROUP = "modules/discovery-group.bicep"  # Reader on each resource group discovery looks in (its default)


def without_discovery(all_grants: list[Grant]) -> list[Grant]:
    """The deployment without discoverTag: discovery's Readers (a subscription's, a production group's) would hide
    a missing read grant."""
    return [g for g in all_grants if g.source[0] not in (DISCOVERY, DISCOVERY_GROUP)]


CREATE_TABLE = f"{TABLE}/write"


def without_table_creation(recorded: list[Need]) -> list[Need]:
    """The requests but Create Table, which the code sends only when a read found its table missing (local,
    Azurite): a deployment creates the journal table (modules/storage.bicep), and the app's role, scoped to
    that table, has no right to create tables (a 403 there is 'not ours to create': Journal.ensure_table)."""
    for create in (n for n in recorded if n.permission == CREATE_TABLE):
        assert any(n.test == create.test and n.status == 404 and n.permission == f"{TABLE}/entities/read"
                   for n in recorded), f"Create Table without a read that found the table missing: {create}"
    return [n for n in recorded if n.permission != CREATE_TABLE]


def test_every_request_the_product_sends_is_granted_by_a_role_assignment_in_the_bicep(recorded):
    missing, _, _ = judge(without_table_creation(recorded), grants())
    assert not missing, "the code calls what the infrastructure does not grant:\n" + explain(missing)
    # the journal is never deleted from: the app's table role has no delete (issue 28)
    deletes = [n for n in recorded if n.permission == f"{TABLE}/entities/delete"]
    assert not deletes, "the code deletes journal entities:\n" + explain(deletes)
    # without discovery, everything but the Resource Graph query is granted by the per-resource roles
    missing, _, _ = judge([n for n in without_table_creation(recorded)
                           if not n.permission.startswith("Microsoft.ResourceGraph/")], without_discovery(grants()))
    assert not missing, "granted only by discovery's subscription-wide Reader:\n" + explain(missing)
    # not vacuous: the session really exercised every kind of call the product makes
    seen = {n.permission.rsplit("Microsoft.", 1)[-1] for n in recorded}
    assert seen >= {
        "DBforPostgreSQL/flexibleServers/read", "DBforPostgreSQL/flexibleServers/backups/read",
        "DBforPostgreSQL/flexibleServers/write", "DBforPostgreSQL/flexibleServers/delete",
        "DBforPostgreSQL/locations/azureAsyncOperation/read", "Storage/storageAccounts/read",
        "Storage/storageAccounts/blobServices/read", "Storage/storageAccounts/tableServices/tables/entities/add/action",
        "Storage/storageAccounts/tableServices/tables/entities/read",
        "Storage/storageAccounts/tableServices/tables/entities/write",
        "Storage/storageAccounts/blobServices/containers/blobs/read",
        "Storage/storageAccounts/blobServices/containers/blobs/write",
        "Storage/storageAccounts/blobServices/containers/blobs/delete",
        "Storage/storageAccounts/queueServices/queues/messages/add/action"}, sorted(seen)


def test_granted_but_unused_is_listed_and_each_is_explained(recorded):
    _, unused_grants, unused_actions = judge(recorded, grants())
    print("granted, never used by the code:", sorted(unused_grants), sorted(unused_actions))
    assert unused_grants == {
        ("modules/functionapp.bicep", "hostBlobOwner"),  # the Functions host itself (keys, timers, package)
        ("modules/functionapp.bicep", "telemetryPublisher"),  # the host's telemetry to App Insights
        # the host's queue triggers (get, delete, length) and its move of a poisoned message: no code of ours
        ("modules/functionapp.bicep", "fleetQueueProcessor"), ("modules/functionapp.bicep", "fleetQueueReader"),
        ("modules/functionapp.bicep", "poisonQueueSender"), ("modules/functionapp.bicep", "poisonQueueProcessor"),
        ("modules/functionapp.bicep", "poisonQueueReader"),
        ("modules/drill-network-join.bicep", "subnetJoin"),  # ARM's linked checks on the restore PUT
        ("modules/drill-network-join.bicep", "zoneJoin"),  # (VNet-integrated source only)
    }
    assert {action for _, action in unused_actions} == {
        "Microsoft.DBforPostgreSQL/locations/operationResults/read",  # Location-header polling (no fake sends it)
        "Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Network/privateDnsZones/join/action"}


def without(tmp_path: Path, action: str) -> list[Grant]:
    """The grants of a copy of infra/ whose drill role lacks `action`."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    drill = copy / "modules" / "drill.bicep"
    text = drill.read_text()
    kept = "\n".join(line for line in text.splitlines() if f"'{action}'" not in line)
    assert kept != text
    drill.write_text(kept)
    return without_discovery(grants(copy))


def test_removing_an_action_from_the_drill_role_breaks_the_contract(recorded, tmp_path):
    before, _, _ = judge(recorded, without_discovery(grants()))
    poll = "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read"
    after, _, _ = judge(recorded, without(tmp_path / "a", poll))
    new = [n for n in after if n not in before]
    assert new and {n.permission for n in new} == {poll}  # exactly the restore's and the delete's polls
    assert all(n.resource.split("/")[4] in DEPLOYMENT["drill_rgs"] for n in new)
    after, _, _ = judge(recorded, without(tmp_path / "b", f"{PG}/delete"))
    assert {n.request.split()[0] for n in after if n not in before} == {"DELETE"}


def test_a_cmk_restore_needs_assign_on_each_identity_granted_by_the_identity_module_only(recorded, tmp_path):
    """Issue 28 item 4: the restore PUT of a CMK source carries its user-assigned identities; each needs
    assign on that identity, which only drill-identity-assign.bicep grants (and removing it breaks the contract)."""
    assigns = [n for n in recorded if n.permission == ASSIGN]
    assert {n.resource.rsplit("/", 1)[1] for n in assigns} == {"exampleprimaryidentity", "examplegeoredundantidentity"}
    for need in assigns:
        assert {g.source for g, _ in granting(need, grants())} == {("modules/drill-identity-assign.bicep",
                                                                    "identityAssign")}
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    module = copy / "modules" / "drill-identity-assign.bicep"
    module.write_text(module.read_text().replace(f"'{ASSIGN}'", "'Microsoft.ManagedIdentity/userAssignedIdentities/read'"))
    # without discovery's subscription-wide Reader (it would hide nothing here, but the query is its own)
    missing, _, _ = judge([n for n in without_table_creation(recorded)
                           if not n.permission.startswith("Microsoft.ResourceGraph/")], without_discovery(grants(copy)))
    assert {n.permission for n in missing} == {ASSIGN}


def test_discovery_is_granted_by_reader_on_resource_groups_not_on_the_subscription(recorded):
    """Issue 28 item 4: the Resource Graph query is answered by discovery's Reader on each resource group it looks
    in (discovery-group.bicep); the subscription-wide Reader (discovery.bicep) is an opt-in, not needed."""
    graph = [n for n in recorded if n.permission.startswith("Microsoft.ResourceGraph/")]
    assert graph, "no Resource Graph query recorded: tests/test_discovery.py did not run"
    by_default = [g for g in grants() if g.source[0] != DISCOVERY]
    for need in graph:
        assert {g.source for g, _ in granting(need, by_default)} == {(DISCOVERY_GROUP, "discoveryReader")}, need
    groups = next(g for g in grants() if g.source[0] == DISCOVERY_GROUP)
    assert groups.scopes and all(in_group_of(scope, SUB) for scope in groups.scopes)  # never the subscription
    elsewhere = Need(f"{PG}/read", False, f"{SUB}/resourceGroups/rg-other/providers/{PG}/db", "GET")
    assert not granting(elsewhere, by_default)  # a server in a group discovery does not look in stays unread
    missing, _, _ = judge(graph, [g for g in by_default if g.source[0] != DISCOVERY_GROUP])
    assert missing == graph  # nothing else answers the query


def test_the_drill_cannot_write_production_and_production_is_read_only(recorded):
    all_grants = grants()
    for rg, name in DEPLOYMENT["production"]:
        server = f"{SUB}/resourceGroups/{rg}/providers/{PG}/{name}"
        for verb, allowed in (("read", True), ("write", False), ("delete", False)):
            need = Need(f"{PG}/{verb}", False, server, f"{verb} production")
            assert bool(granting(need, all_grants)) is allowed, (server, verb)
        other = Need(f"{PG}/write", False, f"{SUB}/resourceGroups/{rg}/providers/{PG}/new-server", "PUT")
        assert not granting(other, all_grants)  # no server can be created next to production
    writes = [n for n in recorded if n.permission in (f"{PG}/write", f"{PG}/delete")]
    assert writes and all(n.resource.split("/")[4] in DEPLOYMENT["drill_rgs"] for n in writes)


def test_request_mapping_follows_azures_tables():
    poll = f"{SUB}/providers/Microsoft.DBforPostgreSQL/locations/eastus/azureAsyncOperation/op1"
    put = Sent("PUT", f"https://management.azure.com/subscriptions/s1/resourceGroups/rg/providers/{PG}/x?api-version=1",
               202, f"https://management.azure.com/subscriptions/s1/providers/Microsoft.DBforPostgreSQL/locations/"
               f"eastus/azureAsyncOperation/op1?api-version=1", "checks/drill/state.py")
    get = Sent("GET", f"https://management.azure.com{poll.replace('/SUB', '/s1')}?api-version=1", 200, "",
               "checks/drill/state.py")
    backups = Sent("GET", f"https://management.azure.com/subscriptions/s1/resourceGroups/rg/providers/{PG}/x/backups",
                   200, "", "checks/families/postgres.py")
    got = [(n.permission, n.resource) for n in needs([put, get, backups])]
    server = f"{SUB}/resourceGroups/rg/providers/{PG}/x"
    assert got == [(f"{PG}/write", server), ("Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read", server),
                   (f"{PG}/backups/read", server)]
    assert blob_need("GET", "c", "", {"restype": ["container"], "comp": ["list"]}) == (f"{BLOB}/blobs/read", True)
    assert blob_need("PUT", "c", "", {"restype": ["container"]}) == (f"{BLOB}/write", False)
    assert blob_need("PUT", "c", "b", {"comp": ["lease"]}) == (f"{BLOB}/blobs/write", True)
    assert table_need("POST", "Tables") == (f"{TABLE}/write", False)
    assert table_need("POST", "Journal") == (f"{TABLE}/entities/add/action", True)
    assert table_need("PATCH", "Journal") == (f"{TABLE}/entities/write", True)
    journal_url = "http://127.0.0.1:10002/devstoreaccount1/Journal"
    batch = Sent("POST", "http://127.0.0.1:10002/devstoreaccount1/$batch", 202, "", "checks/journal/append.py",
                 parts=(("POST", journal_url), ("PUT", journal_url + "(PartitionKey='2026-11',RowKey='head')")))
    assert [(n.permission.rsplit("/tables/", 1)[1], n.resource.rsplit("/", 1)[1]) for n in needs([batch])] == [
        ("entities/add/action", "Journal"), ("entities/write", "Journal")]  # each operation, on its table
    queue = "http://127.0.0.1:10001/devstoreaccount1/verifier-fleet/messages"
    sends = [Sent("POST", queue, 201, "", "checks/dispatch/queue.py"),
             Sent("GET", queue + "?numofmessages=1&visibilitytimeout=30", 200, "", "checks/x.py"),
             Sent("GET", queue + "?peekonly=true", 200, "", "checks/x.py"),
             Sent("DELETE", queue + "/id1?popreceipt=p", 204, "", "checks/x.py"),
             Sent("POST", "https://jr.queue.core.windows.net/verifier-fleet/messages", 201, "", "checks/x.py")]
    assert [(n.permission.rsplit("/queues/", 1)[1], n.resource.rsplit("/", 1)[1]) for n in needs(sends)] == [
        ("messages/add/action", "verifier-fleet"), ("messages/process/action", "verifier-fleet"),
        ("messages/read", "verifier-fleet"), ("messages/process/action", "verifier-fleet"),
        ("messages/add/action", "verifier-fleet")]
    graph = Sent("POST", "https://management.azure.com/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                 200, "", "checks/connect/discovery.py")
    assert [(n.permission, n.resource) for n in needs([graph])] == [("Microsoft.ResourceGraph/resources/read", SUB)]
    setup = dataclasses.replace(put, origin="tests/test_drill.py")
    assert needs([setup]) == []  # a test's own seeding of Azurite is not the product's
    restore = Sent("POST", f"https://management.azure.com/subscriptions/s1/resourceGroups/rg/providers/{ST}/acct/"
                   "restoreBlobRanges?api-version=1", 202, "https://management.azure.com/subscriptions/s1/"
                   f"resourceGroups/rg/providers/Microsoft.Storage/locations/eastus/operationResults/op2?api-version=1",
                   "checks/restore/blob_ranges.py", chain=("checks/restore/blob_ranges.py", "checks/restore_cli.py"))
    status = dataclasses.replace(restore, method="GET", url=restore.location, location="")
    account = f"{SUB}/resourceGroups/rg/providers/{ST}/acct"
    assert needs([restore, status]) == []  # the on-call person's, not the app's
    assert [(n.permission, n.resource) for n in needs([restore, status], person=True)] == [
        (f"{ST}/restoreBlobRanges/action", account), (STORAGE_POLL, account)]


# --- the incident restore: the on-call person's rights, as docs/incident-restore.md lists them ------------------------------
# listed there because Azure may ask for it, though no request of the suite needs it
LISTED_NOT_RECORDED = {
    "Microsoft.DBforPostgreSQL/locations/operationResults/read": "Location-header polling (the ARM examples "
                                                                  "answer with Azure-AsyncOperation)",
}


def incident_rights(text: str) -> tuple[set[str], str]:
    """The actions named in the **Permissions** paragraph of docs/incident-restore.md, and the
    paragraph (whitespace joined)."""
    paragraph = " ".join(text[text.index("\n**Permissions**"):].split("\n\n", 1)[0].split())
    return set(re.findall(r"`(Microsoft\.[A-Za-z]+/[A-Za-z/]+)`", paragraph)), paragraph


def test_incident_restore_rights_in_the_readme_are_exactly_what_it_calls(recorded):
    person = needs(list(SESSION_REQUESTS), person=True)
    listed, paragraph = incident_rights(page("incident-restore"))
    called = {n.permission for n in person}
    missing = [n for n in person if n.permission not in listed]
    assert not missing, "the incident restore calls what the README does not list:\n" + explain(missing)
    assert listed - called == set(LISTED_NOT_RECORDED), f"listed but never called: {listed - called}"
    # the built-in data roles the paragraph names grant the data actions it lists
    roles = [r for r in BUILTIN.values() if r["roleName"] in paragraph]
    for need in (n for n in person if n.data):
        assert any(matches(p, need.permission) for r in roles for p in r["dataActions"]), need
    # not vacuous: a plan, a PITR with its polls, a blob undelete, a blob range restore with its polls
    assert called >= {f"{PG}/read", f"{PG}/write", "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read",
                      f"{BLOB}/blobs/write", f"{ST}/restoreBlobRanges/action", STORAGE_POLL}, sorted(called)
