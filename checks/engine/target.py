"""What a run verified: the Azure resources its results are about.

Every run and every result in the journal carries its target, so evidence about another server
(`--azure-server other-db`) can never tick production's boxes. One small frozen record, the
same for one production target today and for a fleet of targets later.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

_COLUMNS = {"name": "TargetName", "subscription": "TargetSubscription", "resource_group": "TargetResourceGroup",
            "server": "TargetServer", "storage_account": "TargetStorageAccount",
            "storage_resource_group": "TargetStorageResourceGroup"}


@dataclass(frozen=True)
class Target:
    name: str = ""                     # the fleet's name for it (TARGET_NAME or a TARGETS entry)
    subscription: str = ""
    resource_group: str = ""           # of the PostgreSQL server
    server: str = ""                   # PostgreSQL flexible server
    storage_account: str = ""
    storage_resource_group: str = ""
    override: bool = False             # a caller replaced part of the configured target

    @classmethod
    def from_settings(cls, settings: Any, override: bool = False) -> "Target":
        return cls(name=settings.target_name or "", subscription=settings.azure_subscription_id or "", resource_group=settings.pg_resource_group or "",
                   server=settings.pg_server_name or "", storage_account=settings.storage_account_name or "",
                   storage_resource_group=settings.storage_resource_group or "", override=override)

    def resources(self) -> tuple[str, ...]:
        """What identifies the resources (case-insensitive in Azure), without the name and override flag."""
        return tuple(getattr(self, f.name).lower() for f in fields(self) if f.name not in ("name", "override"))

    def same_resources(self, other: "Target") -> bool:
        return self.resources() == other.resources()

    def label(self) -> str:
        server = "/".join(p for p in (self.subscription, self.resource_group, self.server) if p) or "no server"
        account = self.storage_account or "no storage account"
        return f"server {server}; storage account {account}" + (" (override)" if self.override else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Target | None":
        if not data:
            return None
        known = {f.name for f in fields(cls)} & set(data)
        return cls(**{k: bool(data[k]) if k == "override" else str(data[k] or "") for k in known})

    def to_columns(self) -> dict[str, Any]:
        """Flat journal columns (Azure Storage Explorer shows them as they are)."""
        return {column: getattr(self, attr) for attr, column in _COLUMNS.items()} | {"TargetOverride": self.override}

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> "Target | None":
        """None for entities written before targets were journaled (they still read)."""
        if "TargetOverride" not in row:
            return None
        return cls(**{attr: str(row.get(column) or "") for attr, column in _COLUMNS.items()},
                   override=bool(row.get("TargetOverride")))
