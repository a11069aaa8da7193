"""Access parity of a drill server with production (BSI C5 OPS-08: restores only where access rules match).

Before any data of the restored copy is read, the drill server's access settings are compared with
production's, both in the shape ARM gives them (`properties.network`, `properties.dataEncryption`,
`properties.authConfig`, and `firewallRules`: the server's firewall rules as listed). Every difference is a
finding `{field, production, drill, severity, rule}` in the drill's record; `evaluate_parity` is pure.

Which differences fail the drill (it stops before any data is read, then its server is deleted) and which
only warn:

| difference | severity |
| --- | --- |
| the drill server is reachable from the internet (public access, no delegated subnet) while production is not | fail |
| `publicNetworkAccess` Enabled on the drill server, not on production | fail |
| a firewall rule open on the drill server (public access on) that production does not have open | fail |
| production under a customer-managed key (`dataEncryption.type` AzureKeyVault), the copy not | fail |
| another key (vault or key name of `primaryKeyURI`) than production's | fail |
| production Entra-only (`authConfig.passwordAuth` Disabled), the copy accepts passwords | fail |
| another Entra tenant (`authConfig.tenantId`) than production's | fail |
| any other difference: another VNet subnet or private DNS zone, private endpoint vs VNet, the same key in another version, the copy stricter than production (key, password login off, fewer rules) | warn |
| a setting one of the servers does not report | warn |

A stricter copy warns rather than passes: the drill then does not prove that production's own access
path works for a restore.
"""
from __future__ import annotations

from typing import Any

from checks.engine.i18n import msg

FAIL, WARN, PASS = "fail", "warn", "pass"
RULES = ("public_copy", "wider_access", "extra_rule", "key_downgrade", "other_key", "password_login",
         "other_tenant", "different", "narrower", "missing_rule", "not_reported")
FIELDS = ("network.mode", "network.publicNetworkAccess", "network.delegatedSubnetResourceId",
          "network.privateDnsZoneArmResourceId", "firewallRules", "dataEncryption.type",
          "dataEncryption.primaryKeyURI", "dataEncryption.geoBackupKeyURI", "authConfig.activeDirectoryAuth",
          "authConfig.passwordAuth", "authConfig.tenantId")


def evaluate_parity(production: dict[str, Any], drill: dict[str, Any]) -> dict[str, Any]:
    """{"status": pass|warn|fail, "findings": [...], "compared": FIELDS}: the drill server `drill` against
    `production`, two server records in ARM's shape (see the module's table)."""
    findings: list[dict[str, Any]] = []
    prod, copy = _props(production), _props(drill)

    def add(name: str, severity: str, rule: str, p: Any, d: Any) -> None:
        findings.append({"field": name, "production": p, "drill": d, "severity": severity, "rule": rule})

    _network(prod, copy, add)
    _firewall(production, drill, prod, copy, add)
    _encryption(prod, copy, add)
    _authentication(prod, copy, add)
    status = FAIL if any(f["severity"] == FAIL for f in findings) else WARN if findings else PASS
    return {"status": status, "findings": findings, "compared": list(FIELDS)}


def _props(server: Any) -> dict[str, Any]:
    props = server.get("properties") if isinstance(server, dict) else None
    return props if isinstance(props, dict) else {}


def _get(props: dict[str, Any], path: str) -> Any:
    node: Any = props
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, (str, int, float, bool)) or node is None else str(node)


def _same(a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower() if a is not None and b is not None else a is b


def network_mode(props: dict[str, Any]) -> str | None:
    """vnet (delegated subnet) | private (public access disabled) | public | None (not reported)."""
    if _get(props, "network.delegatedSubnetResourceId"):
        return "vnet"
    access = str(_get(props, "network.publicNetworkAccess") or "").lower()
    return {"disabled": "private", "enabled": "public"}.get(access)


def _network(prod: dict, copy: dict, add) -> None:
    p_mode, d_mode = network_mode(prod), network_mode(copy)
    if p_mode is None or d_mode is None:
        if p_mode != d_mode:
            add("network.mode", WARN, "not_reported", p_mode, d_mode)
    elif p_mode != d_mode:
        add("network.mode", FAIL if d_mode == "public" else WARN,
            "public_copy" if d_mode == "public" else "different", p_mode, d_mode)
    p_access, d_access = _get(prod, "network.publicNetworkAccess"), _get(copy, "network.publicNetworkAccess")
    if not _same(p_access, d_access):
        opened = str(d_access).lower() == "enabled"
        add("network.publicNetworkAccess", FAIL if opened else WARN,
            "wider_access" if opened else "narrower" if d_access is not None else "not_reported", p_access, d_access)
    for name in ("network.delegatedSubnetResourceId", "network.privateDnsZoneArmResourceId"):
        p, d = _get(prod, name), _get(copy, name)
        if not _same(p, d):
            add(name, WARN, "different" if p and d else "not_reported" if p else "different", p, d)


def _open_ranges(server: dict[str, Any], props: dict[str, Any]) -> set[tuple[str, str]] | None:
    """The address ranges the firewall lets in: none while public access is off; None when not listed."""
    if str(_get(props, "network.publicNetworkAccess") or "").lower() != "enabled" or \
            _get(props, "network.delegatedSubnetResourceId"):
        return set()
    rules = server.get("firewallRules") if isinstance(server, dict) else None
    if not isinstance(rules, list):
        return None
    out = set()
    for rule in rules:
        rule_props = rule.get("properties") if isinstance(rule, dict) else None
        if isinstance(rule_props, dict):
            out.add((str(rule_props.get("startIpAddress")), str(rule_props.get("endIpAddress"))))
    return out


def _firewall(production: dict, drill: dict, prod: dict, copy: dict, add) -> None:
    p_open, d_open = _open_ranges(production, prod), _open_ranges(drill, copy)
    if d_open is None or (p_open is None and d_open):
        if d_open != p_open:
            add("firewallRules", WARN, "not_reported", _ranges(p_open), _ranges(d_open))
        return
    p_open = p_open or set()
    for start, end in sorted(d_open - p_open):
        add("firewallRules", FAIL, "extra_rule", None, f"{start}-{end}")
    for start, end in sorted(p_open - d_open):
        add("firewallRules", WARN, "missing_rule", f"{start}-{end}", None)


def _ranges(ranges: set[tuple[str, str]] | None) -> list[str] | None:
    return None if ranges is None else [f"{a}-{b}" for a, b in sorted(ranges)]


def _key_name(uri: Any) -> str:
    """https://vault/keys/name/version -> vault/keys/name (lower case): the key, whatever its version."""
    parts = str(uri or "").lower().split("://", 1)[-1].split("/")
    return "/".join(parts[:3])


def _encryption(prod: dict, copy: dict, add) -> None:
    p_type, d_type = _get(prod, "dataEncryption.type"), _get(copy, "dataEncryption.type")
    p_cmk, d_cmk = str(p_type).lower() == "azurekeyvault", str(d_type).lower() == "azurekeyvault"
    if not _same(p_type, d_type):
        add("dataEncryption.type", FAIL if p_cmk and not d_cmk else WARN,
            "key_downgrade" if p_cmk and not d_cmk else "narrower" if d_cmk else "not_reported", p_type, d_type)
    if not (p_cmk and d_cmk):
        return
    for name, fails in (("dataEncryption.primaryKeyURI", True), ("dataEncryption.geoBackupKeyURI", False)):
        p, d = _get(prod, name), _get(copy, name)
        if _same(p, d):
            continue
        other_key = _key_name(p) != _key_name(d)
        add(name, FAIL if fails and other_key and p and d else WARN,
            "other_key" if other_key and p and d else "not_reported" if not (p and d) else "different", p, d)


def _authentication(prod: dict, copy: dict, add) -> None:
    p_pw, d_pw = _get(prod, "authConfig.passwordAuth"), _get(copy, "authConfig.passwordAuth")
    if not _same(p_pw, d_pw):
        wider = str(p_pw).lower() == "disabled" and str(d_pw).lower() != "disabled"
        add("authConfig.passwordAuth", FAIL if wider else WARN,
            "password_login" if wider else "narrower" if str(d_pw).lower() == "disabled" else "not_reported",
            p_pw, d_pw)
    p_ad, d_ad = _get(prod, "authConfig.activeDirectoryAuth"), _get(copy, "authConfig.activeDirectoryAuth")
    if not _same(p_ad, d_ad):
        add("authConfig.activeDirectoryAuth", WARN, "different" if p_ad and d_ad else "not_reported", p_ad, d_ad)
    p_tenant, d_tenant = _get(prod, "authConfig.tenantId"), _get(copy, "authConfig.tenantId")
    if not _same(p_tenant, d_tenant):
        add("authConfig.tenantId", FAIL if p_tenant and d_tenant else WARN,
            "other_tenant" if p_tenant and d_tenant else "not_reported", p_tenant, d_tenant)


# --- from the SDK's server model (I/O: the drill server's firewall rules) -------------------------------
def access_of(server: Any, firewall_rules: list[Any] | None = None) -> dict[str, Any]:
    """The access settings of an SDK `Server` (or an ARM dict) in ARM's shape, what `evaluate_parity` reads;
    `firewall_rules`: the server's rules as listed (SDK models or ARM dicts), None when not read."""
    body = _plain(server)
    props = body.get("properties") if isinstance(body.get("properties"), dict) else {}
    out: dict[str, Any] = {"name": body.get("name"),
                           "properties": {k: props[k] for k in ("network", "dataEncryption", "authConfig")
                                          if isinstance(props.get(k), dict)}}
    if firewall_rules is not None:
        out["firewallRules"] = [_plain(r) for r in firewall_rules]
    return out


def _plain(model: Any) -> dict[str, Any]:
    """An SDK model (a mapping in ARM's shape: `as_dict()`) or a dict, as a plain dict."""
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return dict(model) if isinstance(model, dict) else {}


def needs_firewall_rules(server: Any) -> bool:
    """The server lets internet traffic in through its firewall (public access on, no delegated subnet)."""
    return network_mode(_props(access_of(server))) == "public"


def read_access(client: Any, resource_group: str, name: str, server: Any) -> dict[str, Any]:
    """The drill server's access record, with its firewall rules listed when public access lets them count.
    Rules that cannot be listed are "not reported" (a public drill server fails on its network mode anyway):
    the record says why (`firewallRulesError`), the drill is not held up."""
    from azure.core.exceptions import AzureError
    from checks.connect.azure import arm_error

    if not needs_firewall_rules(server):
        return access_of(server)
    try:
        rules = list(client.firewall_rules.list_by_server(resource_group, name))
    except AzureError as exc:
        error = arm_error(exc, msg("firewall rules of {server}", server=name),
                          msg("resource group {group}", group=resource_group))
        return dict(access_of(server), firewallRulesError=str(error.reason)[:300])
    return access_of(server, rules)
