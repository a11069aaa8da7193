"""What the source server's ARM record says a restore of it needs (issue 28, item 4).

* A drill of a PUBLIC-access source is refused before any PUT (`refuse_public_source`): its restored
  server would come up with public access and no firewall rule the verifier could reach it through,
  and opening one on a copy of health data is not something a drill does on its own. A VNet-integrated
  source (delegated subnet) or one reached through a private endpoint (public access disabled) is drilled.
* A customer-managed-key source (`dataEncryption.type == AzureKeyVault`) is restored with the same
  user-assigned identities and key (`cmk_restore_fields`): ARM refuses the restore of a CMK server
  without them, and assigning an identity needs
  `Microsoft.ManagedIdentity/userAssignedIdentities/assign/action` (infra/modules/drill-identity-assign.bicep).
"""
from __future__ import annotations

from typing import Any

from checks.drill.state import DrillGuardError
from checks.engine.i18n import msg


def is_public(source: Any) -> bool:
    """Public network access enabled and no delegated subnet (ARM `properties.network`)."""
    network = getattr(getattr(source, "properties", None), "network", None)
    if network is None or getattr(network, "delegated_subnet_resource_id", None):
        return False
    return _text(getattr(network, "public_network_access", None)) == "enabled"


def _text(value: Any) -> str:
    """An SDK enum or a plain string, lower case ('' for None)."""
    return str(getattr(value, "value", value) or "").lower()


def refuse_public_source(source: Any) -> None:
    """DrillGuardError (recorded as the drill's result) when the source is public access."""
    if is_public(source):
        raise DrillGuardError(
            msg("refused: source server {server} uses public network access; a restore drill needs a VNet-integrated "
                "or private-endpoint source (the restored server would have no firewall rule for the verifier)",
                server=str(getattr(source, "name", "") or "?")),
            msg("Drill a VNet-integrated source (PUBLIC_MODE=false, the default), or restore by hand and add the "
                "firewall rule yourself (docs/restore-drill.md)."))


ASSIGN_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"


def restore_rights(source: Any) -> list[dict[str, str]]:
    """What a restore of `source` needs beyond creating a server in the target group: for a CMK source,
    assign on each user-assigned identity the restore request carries (Azure checks it on the PUT).
    [{"action", "scope"}], [] for a source without a customer-managed key."""
    identity = cmk_restore_fields(source).get("identity")
    return [{"action": ASSIGN_IDENTITY, "scope": i} for i in (identity.user_assigned_identities if identity else {})]


def cmk_restore_fields(source: Any) -> dict[str, Any]:
    """{"identity": ..., "data_encryption": ...} for a CMK source (keyword arguments of the SDK's Server),
    else {}: the restored server uses the source's user-assigned identities and key."""
    from azure.mgmt.postgresqlflexibleservers.models import DataEncryption, UserAssignedIdentity, UserIdentity

    encryption = getattr(getattr(source, "properties", None), "data_encryption", None)
    if encryption is None or _text(getattr(encryption, "type", None)) != "azurekeyvault":
        return {}
    identities = dict(getattr(getattr(source, "identity", None), "user_assigned_identities", None) or {})
    for key in ("primary_user_assigned_identity_id", "geo_backup_user_assigned_identity_id"):
        if getattr(encryption, key, None):
            identities.setdefault(getattr(encryption, key), None)
    fields: dict[str, Any] = {"data_encryption": DataEncryption(
        type="AzureKeyVault", primary_key_uri=encryption.primary_key_uri,
        primary_user_assigned_identity_id=encryption.primary_user_assigned_identity_id,
        geo_backup_key_uri=getattr(encryption, "geo_backup_key_uri", None),
        geo_backup_user_assigned_identity_id=getattr(encryption, "geo_backup_user_assigned_identity_id", None))}
    if identities:
        fields["identity"] = UserAssignedIdentity(type="UserAssigned",
                                                  user_assigned_identities={i: UserIdentity() for i in identities})
    return fields
