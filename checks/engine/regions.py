"""Azure regions, in one place: which are in the European Economic Area (EEA: the EU, Norway,
Iceland, Liechtenstein), which region each one is paired with (where a geo-redundant copy goes)
and their display names. The defaults of ALLOWED_BACKUP_REGIONS, infra's allowed locations and
local.settings.sample.json are rendered from this table (tests/test_regions_render.py fails when
they drift; `python -m devtools.regions --write` rewrites them).

Source: Microsoft Learn, "List of Azure regions" (MicrosoftDocs/reliability-docs,
articles/reliability/regions-list.md, commit 01021ab80d1aebd1d8b5de481d80a9855b487954, ms.date
2025-09-23) and "Azure region pairs and nonpaired regions" (articles/reliability/regions-paired.md):
"Paired region" column; N/A = nonpaired. Asymmetric pairs are written one way (Brazil South's pair
is South Central US, OUTSIDE its geography; West US 3 -> East US; West India -> South India).
Sweden South (restricted access) is Sweden Central's pair. Azure Storage: "Regions without a pair
will not have geo-redundant storage (GRS)"; the secondary region is the pair and cannot be chosen
(MicrosoftDocs/azure-docs, articles/reliability/includes/storage/
reliability-storage-multi-region-region-support-include.md).

A region missing here is unknown: a check never takes it for EEA (a finding, never a pass).
Switzerland and the United Kingdom are not in the EEA.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from checks.engine.i18n import msg


@dataclass(frozen=True)
class Region:
    name: str  # programmatic name, as ARM spells it: francecentral
    display: str  # France Central
    pair: str | None  # the paired region (geo-redundant copies), None = nonpaired
    eea: bool


def _r(name: str, display: str, pair: str | None = None, eea: bool = False) -> Region:
    return Region(name, display, pair, eea)


_TABLE = (
    # EEA
    _r("austriaeast", "Austria East", None, True),
    _r("belgiumcentral", "Belgium Central", None, True),
    _r("denmarkeast", "Denmark East", None, True),
    _r("francecentral", "France Central", "francesouth", True),
    _r("francesouth", "France South", "francecentral", True),
    _r("germanynorth", "Germany North", "germanywestcentral", True),
    _r("germanywestcentral", "Germany West Central", "germanynorth", True),
    _r("italynorth", "Italy North", None, True),
    _r("northeurope", "North Europe", "westeurope", True),
    _r("norwayeast", "Norway East", "norwaywest", True),
    _r("norwaywest", "Norway West", "norwayeast", True),
    _r("polandcentral", "Poland Central", None, True),
    _r("spaincentral", "Spain Central", None, True),
    _r("swedencentral", "Sweden Central", "swedensouth", True),
    _r("swedensouth", "Sweden South", "swedencentral", True),
    _r("westeurope", "West Europe", "northeurope", True),
    # outside the EEA
    _r("australiacentral", "Australia Central", "australiacentral2"),
    _r("australiacentral2", "Australia Central 2", "australiacentral"),
    _r("australiaeast", "Australia East", "australiasoutheast"),
    _r("australiasoutheast", "Australia Southeast", "australiaeast"),
    _r("brazilsouth", "Brazil South", "southcentralus"),
    _r("brazilsoutheast", "Brazil Southeast", "brazilsouth"),
    _r("canadacentral", "Canada Central", "canadaeast"),
    _r("canadaeast", "Canada East", "canadacentral"),
    _r("centralindia", "Central India", "southindia"),
    _r("centralus", "Central US", "eastus2"),
    _r("chilecentral", "Chile Central"),
    _r("chinaeast", "China East", "chinanorth"),
    _r("chinaeast2", "China East 2", "chinanorth2"),
    _r("chinaeast3", "China East 3", "chinanorth3"),
    _r("chinanorth", "China North", "chinaeast"),
    _r("chinanorth2", "China North 2", "chinaeast2"),
    _r("chinanorth3", "China North 3", "chinaeast3"),
    _r("eastasia", "East Asia", "southeastasia"),
    _r("eastus", "East US", "westus"),
    _r("eastus2", "East US 2", "centralus"),
    _r("indonesiacentral", "Indonesia Central"),
    _r("israelcentral", "Israel Central"),
    _r("japaneast", "Japan East", "japanwest"),
    _r("japanwest", "Japan West", "japaneast"),
    _r("koreacentral", "Korea Central", "koreasouth"),
    _r("koreasouth", "Korea South", "koreacentral"),
    _r("malaysiawest", "Malaysia West"),
    _r("mexicocentral", "Mexico Central"),
    _r("newzealandnorth", "New Zealand North"),
    _r("northcentralus", "North Central US", "southcentralus"),
    _r("qatarcentral", "Qatar Central"),
    _r("southafricanorth", "South Africa North", "southafricawest"),
    _r("southafricawest", "South Africa West", "southafricanorth"),
    _r("southcentralus", "South Central US", "northcentralus"),
    _r("southeastasia", "Southeast Asia", "eastasia"),
    _r("southindia", "South India", "centralindia"),
    _r("switzerlandnorth", "Switzerland North", "switzerlandwest"),
    _r("switzerlandwest", "Switzerland West", "switzerlandnorth"),
    _r("uaecentral", "UAE Central", "uaenorth"),
    _r("uaenorth", "UAE North", "uaecentral"),
    _r("uksouth", "UK South", "ukwest"),
    _r("ukwest", "UK West", "uksouth"),
    _r("westcentralus", "West Central US", "westus2"),
    _r("westindia", "West India", "southindia"),
    _r("westus", "West US", "eastus"),
    _r("westus2", "West US 2", "westcentralus"),
    _r("westus3", "West US 3", "eastus"),
)
REGIONS: dict[str, Region] = {r.name: r for r in _TABLE}
EEA_REGIONS: tuple[str, ...] = tuple(sorted(r.name for r in _TABLE if r.eea))
EEA_NONPAIRED: tuple[str, ...] = tuple(r for r in EEA_REGIONS if REGIONS[r].pair is None)


def region_key(name: str | None) -> str:
    """ARM answers "francecentral" or "France Central": compare without case and whitespace."""
    return re.sub(r"\s+", "", name or "").lower()


def lookup(name: str | None) -> Region | None:
    """The region named `name` (either spelling), None when the table does not know it."""
    return REGIONS.get(region_key(name))


def paired(name: str | None) -> str | None:
    """Where a geo-redundant copy of `name` goes; None for a nonpaired or unknown region."""
    region = lookup(name)
    return region.pair if region else None


def in_eea(name: str | None) -> bool | None:
    """True or False for a region of the table; None when it is unknown (nothing proven)."""
    region = lookup(name)
    return region.eea if region else None


def display(name: str | None) -> str:
    """"France Central (francecentral)" for a known region, the name as given otherwise."""
    region = lookup(name)
    return f"{region.display} ({region.name})" if region else (name or "")


COPY_KINDS = ("server", "geo_backup", "primary", "secondary", "drill_server", "restore_server", "next_restore",
              "ltr_vault", "ltr_vault_pair")


def kind_label(kind: str) -> str:
    """What a kind of copy is, before its resource's name: "{what} {name} in {region}"."""
    labels = {"server": msg("PostgreSQL server"), "geo_backup": msg("geo-backup of server"),
              "primary": msg("storage account"), "secondary": msg("secondary copy of storage account"),
              "drill_server": msg("drill server"), "restore_server": msg("incident-restore server"),
              "next_restore": msg("next drill or incident restore of server"),
              "ltr_vault": msg("long-term retention vault"), "ltr_vault_pair": msg("geo-redundant copy of vault")}
    return labels.get(kind) or kind
