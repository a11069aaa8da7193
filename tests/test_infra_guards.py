"""Deployment guards and fleet rights of infra/main.bicep, evaluated: the template's own expressions (parsed
by pycep) computed with given parameters by tests/bicep_eval.py, as ARM would at deployment (issue 28 item 4),
and the Activity Log alert on production tampering (item 5)."""
from __future__ import annotations

import json
import re

import pytest

from bicep_eval import BicepFail, Evaluator
from test_infra import INFRA, alerts, body, parse

BASE = {"environmentName": "medicapp", "location": "westeurope", "alertEmail": "ops@example.org",
        "pgServerName": "medicapp-db", "pgResourceGroup": "rg-medicapp", "storageAccountName": "medicappdocs",
        "storageResourceGroup": "rg-medicapp-docs", "blobContainers": ["documents"], "restoreDrillEnabled": True}
TARGETS = [
    {"name": "prod-eu", "postgres": {"resource_group": "rg-eu", "server": "db-eu"},
     "storage": {"resource_group": "RG-EU-Docs", "account": "steu", "containers": ["scans"]}},
    {"name": "prod-us", "postgres": {"subscription": "SUB2", "resource_group": "rg-us", "server": "db-us"}},
    {"name": "own"},  # leaves everything out: the deployment's own server and account
]


def evaluate(name: str, **params):
    return Evaluator(parse("main.bicep"), BASE | {"targets": json.dumps(TARGETS)} | params).var(name)


@pytest.mark.parametrize("group", ["rg-medicapp", "RG-MEDICAPP-DOCS", "rg-eu", "rg-eu-docs", "rg-us", "rg-medicapp-env"])
def test_deployment_fails_when_the_drill_group_is_a_production_group_or_the_verifiers(group):
    """pgResourceGroup, storageResourceGroup, each TARGETS server's and account's group (any case), the
    verifier's own group: the deployment stops with the reason, before any resource is written."""
    with pytest.raises(BicepFail, match=r"restoreDrillResourceGroup \(RESTORE_DRILL_RESOURCE_GROUP\) must not be a "
                                        r"production resource group"):
        evaluate("drillResourceGroupName", restoreDrillResourceGroup=group, resourceGroupName="rg-medicapp-env")


def test_a_separate_drill_group_passes_and_drills_off_never_stop_the_deployment():
    assert evaluate("drillResourceGroupName", restoreDrillResourceGroup="rg-medicapp-drills") == "rg-medicapp-drills"
    assert evaluate("drillResourceGroupName") == "rg-medicapp-drills"  # the default: rg-<env>-drills
    assert evaluate("drillResourceGroupName", restoreDrillResourceGroup="rg-eu", restoreDrillEnabled=False) == "rg-eu"


def test_every_use_of_the_drill_group_goes_through_the_guard():
    main = parse("main.bicep")
    assert body(main["resources"]["drillRg"])["name"] == "drillResourceGroupName"
    assert body(main["modules"]["drill"])["scope"]["function"]["parameters"]["resource_group_name"] == \
        "drillResourceGroupName"
    text = (INFRA / "main.bicep").read_text()
    # the unguarded name is read by the guard only
    assert len(re.findall(r"\bdrillGroupRequested\b", text)) == 3  # its declaration and the guard's two uses
    (guard,) = [line for line in text.splitlines() if line.startswith("var drillResourceGroupName =")]
    assert guard.count("drillGroupRequested") == 2


def test_every_fleet_target_gets_its_rights_from_a_loop_over_the_targets():
    servers = evaluate("fleetServers")
    assert [(s["name"], s["subscription"], s["resourceGroup"], s["server"]) for s in servers] == [
        ("prod-eu", "SUB", "rg-eu", "db-eu"), ("prod-us", "SUB2", "rg-us", "db-us"),
        ("own", "SUB", "rg-medicapp", "medicapp-db")]
    accounts = evaluate("fleetAccounts", signedDocumentContainer="signed")
    assert [(a["name"], a["subscription"], a["resourceGroup"], a["account"], a["containers"]) for a in accounts] == [
        ("prod-eu", "SUB", "RG-EU-Docs", "steu", ["scans", "signed"]),
        ("prod-us", "SUB2", "rg-medicapp-docs", "medicappdocs", ["documents", "signed"]),
        ("own", "SUB", "rg-medicapp-docs", "medicappdocs", ["documents", "signed"])]
    main = parse("main.bicep")
    for module, array, own, params in (
            ("fleetPgAccess", "fleetServers", "pgAccess",
             {"pgServerName": "server", "lockProductionServer": None}),
            ("fleetStorageAccess", "fleetAccounts", "storageAccess",
             {"storageAccountName": "account", "readContainers": "containers", "canaryContainer": None,
              "readChangeFeed": None})):
        m = main["modules"][module]
        assert m["detail"]["path"] == main["modules"][own]["detail"]["path"]  # the same rights as the own target
        assert m["config"]["loop_type"]["detail"] == {"item_name": "t", "array_name": array}
        cfg = m["config"]["config"]
        scope = cfg["scope"]["function"]["parameters"]
        assert json.dumps(scope["subscription_id"]).count('"subscription"') == 1
        assert json.dumps(scope["resource_group_name"]).count('"resourceGroup"') == 1
        for name, field in params.items():
            value = cfg["params"][name]
            if field is None:  # deployment-wide: the same value as the own target's module
                assert value == body(main["modules"][own])["params"][name], name
            else:
                assert value["operator"]["operands"] == {"operand_1": "t", "operand_2": field}, name
        # a target naming the deployment's own server writes the same resources: after the own module, one at a time
        assert cfg["dependsOn"] == [own] and {"type": "batchSize", "argument": 1} in m["decorators"]


def test_the_production_delete_lock_is_on_by_default_for_every_target():
    main = parse("main.bicep")
    assert main["parameters"]["lockProductionServer"]["default"] is True
    assert body(main["modules"]["pgAccess"])["params"]["lockProductionServer"] == "lockProductionServer"
    assert main["modules"]["fleetPgAccess"]["config"]["config"]["params"]["lockProductionServer"] == "lockProductionServer"
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert "false" not in json.dumps(azd.get("lockProductionServer", {}))


TAMPER = ["Microsoft.DBforPostgreSQL/flexibleServers/delete", "Microsoft.Authorization/locks/delete",
          "Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete"]


def test_activity_log_alert_on_server_delete_lock_removal_and_role_changes_in_production_groups():
    doc = alerts()
    rule = body(doc["resources"]["productionTampered"])
    assert doc["resources"]["productionTampered"]["type"] == "Microsoft.Insights/activityLogAlerts"
    assert rule["location"] == "global"
    props = rule["properties"]
    assert props["enabled"] is True and props["scopes"] == "productionGroupIds"
    category, operations = props["condition"]["allOf"]
    assert category == {"field": "category", "equals": "Administrative"}
    loop = operations["anyOf"]
    assert loop["loop_type"]["detail"] == {"item_name": "operation", "array_name": "tamperOperations"}
    assert loop["config"] == {"field": "operationName", "equals": "operation"}
    assert doc["variables"]["tamperOperations"]["value"] == TAMPER
    assert props["actions"]["actionGroups"] == [{"actionGroupId": {"operator": {
        "type": "property_accessor", "operands": {"operand_1": "actionGroup", "operand_2": "id"}}}}]
    # scoped to every production group of this subscription (a target in another subscription is not)
    assert body(parse("main.bicep")["modules"]["alerts"])["params"]["productionGroupIds"] == "productionGroupIds"
    assert evaluate("productionGroupIds") == [f"/subscriptions/SUB/resourceGroups/{g}" for g in
                                              ("rg-medicapp", "rg-medicapp-docs", "rg-eu", "rg-eu-docs")]


def test_discovery_reader_is_granted_per_resource_group_unless_subscription_wide_is_asked_for():
    """Issue 28 item 4: discovery's Reader on the resource groups it looks in (given, or the production groups the
    deployment knows); on whole subscriptions only behind discoverSubscriptionWide (groups not known yet)."""
    assert evaluate("discoveryGroups") == [] and evaluate("discoveryScope") == []  # no discoverTag: no discovery
    tagged = {"discoverTag": "backup-verify"}
    assert evaluate("discoveryScope", **tagged) == []  # never a whole subscription by default
    assert evaluate("discoveryGroups", **tagged) == [
        {"subscription": sub, "resourceGroup": rg} for sub, rg in
        (("SUB", "rg-medicapp"), ("SUB", "rg-medicapp-docs"), ("SUB", "rg-eu"), ("SUB2", "rg-us"),
         ("SUB", "rg-eu-docs"), ("SUB2", "rg-medicapp-docs"))]  # every TARGETS group, once, in its subscription
    given = evaluate("discoveryGroups", **tagged, discoverResourceGroups=" rg-a, SUB3/RG-B ,rg-a")
    assert given == [{"subscription": "SUB", "resourceGroup": "rg-a"}, {"subscription": "SUB3", "resourceGroup": "rg-b"}]
    wide = tagged | {"discoverSubscriptionWide": True}
    assert evaluate("discoveryGroups", **wide) == [] and evaluate("discoveryScope", **wide) == ["SUB"]
    assert evaluate("discoveryScope", **wide, discoverSubscriptions="S1,S2") == ["S1", "S2"]
    main = parse("main.bicep")
    assert main["parameters"]["discoverSubscriptionWide"]["default"] is False
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["discoverSubscriptionWide"]["value"] == "${DISCOVER_SUBSCRIPTION_WIDE=false}"
    for module, array, path in (("discoveryGroupReaders", "discoveryGroups", "modules/discovery-group.bicep"),
                                ("discovery", "discoveryScope", "modules/discovery.bicep")):
        m = main["modules"][module]
        assert m["detail"]["path"] == path and m["config"]["loop_type"]["detail"]["array_name"] == array
    scope = main["modules"]["discoveryGroupReaders"]["config"]["config"]["scope"]["function"]
    assert scope["type"] == "resource_group"
    assert {k: v["operator"]["operands"]["operand_2"] for k, v in scope["parameters"].items()} == {
        "subscription_id": "subscription", "resource_group_name": "resourceGroup"}
    assert parse("modules/discovery-group.bicep")["globals"]["scope"]["value"] == "resourceGroup"


def test_every_drilled_sources_subnet_zone_and_identity_gets_its_join_or_assign_right():
    """Issue 28 item 4: the drill of any target (the deployment's own, a TARGETS server) restores into its
    source's subnet and DNS zone and with its CMK identities: each listed id gets its own join/assign module,
    once, only with the drill; each zone is linked to the app's VNet (private mode)."""
    subnet = "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/pg"
    zone = "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/privateDnsZones/{}.private.postgres"
    subnets = [subnet.format("SUB", "rg-net"), subnet.format("SUB2", "rg-net-us")]
    zones = [zone.format("SUB", "rg-net", "eu"), zone.format("HUB", "rg-dns", "us")]
    given = {"pgSubnetId": f" {subnets[0]}, {subnets[1]},{subnets[0]}", "pgPrivateDnsZoneId": ",".join(zones),
             "appSubnetId": subnet.format("SUB", "rg-app")}
    assert evaluate("drillSubnetIds", **given) == subnets and evaluate("drillDnsZoneIds", **given) == zones
    assert evaluate("linkedPgZoneIds", **given) == zones
    assert evaluate("linkedPgZoneIds", **given, linkPgPrivateDnsZone=False) == []
    assert evaluate("drillSubnetIds", **given, restoreDrillEnabled=False) == []
    assert evaluate("drillDnsZoneIds", **given, restoreDrillEnabled=False) == []
    assert evaluate("linkedPgZoneIds", **given, restoreDrillEnabled=False) == zones  # the app resolves them anyway
    assert evaluate("drillSubnetIds") == [] and evaluate("drillDnsZoneIds") == []  # a public or plain source: none
    identity = "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}"
    identities = [identity.format("SUB", "rg-eu", "id-eu"), identity.format("SUB2", "rg-us", "id-us")]
    assert evaluate("cmkIdentityIds", pgCmkIdentityIds=",".join(identities)) == identities  # one module each
    assert evaluate("cmkIdentityIds", pgCmkIdentityIds=",".join(identities), restoreDrillEnabled=False) == []
