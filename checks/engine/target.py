"""What a run verified: the Azure resources its results are about.

Every run and every result in the journal carries its target, so evidence about another server
(`--azure-server other-db`) can never tick production's boxes. One small frozen record, the
same for one production target today and for a fleet of targets later.

The database a run's checks read is part of it (issue 27 item 3): `database_host` (host, with
`:port` when not 5432) and `database_name`, from DATABASE_URL or PGHOST/PGPORT/PGDATABASE, never
the user or the password. None = not recorded (a run journaled before databases were): such a run
is not evidence about a database by itself (checks/report/checklist.py reads the database its
results name instead).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from checks.engine.i18n import Message, join_messages, msg

_COLUMNS = {"name": "TargetName", "subscription": "TargetSubscription", "resource_group": "TargetResourceGroup",
            "server": "TargetServer", "storage_account": "TargetStorageAccount",
            "storage_resource_group": "TargetStorageResourceGroup"}
_DB_COLUMNS = {"database_host": "TargetDatabaseHost", "database_name": "TargetDatabaseName"}
_DB_FIELDS = tuple(_DB_COLUMNS)
DEFAULT_PORT = "5432"


def database_of(host: Any, port: Any = None, dbname: Any = None) -> tuple[str, str]:
    """(host[:port], dbname) as compared and journaled: host lowercased, the default port left out."""
    host, port = str(host or "").strip().lower(), str(port or "").strip()
    return (f"{host}:{port}" if host and port and port != DEFAULT_PORT else host), str(dbname or "")


def database_of_settings(settings: Any) -> tuple[str, str]:
    """The database the checks connect to: DATABASE_URL's host, port and dbname, what it leaves out
    from PGHOST/PGPORT/PGDATABASE (as libpq does); ("", "") when none is configured."""
    params: dict[str, Any] = {}
    url = getattr(settings, "database_url", None)
    if url:
        from psycopg import Error as PsycopgError  # lazy: cold start
        from psycopg.conninfo import conninfo_to_dict
        try:
            params = conninfo_to_dict(url)
        except PsycopgError:  # validated by Settings; never a reason to lose a run
            params = {}
    env = getattr(settings, "libpq_env", None) or {}
    for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("dbname", "PGDATABASE")):
        if not params.get(key) and env.get(variable):
            params[key] = env[variable]
    return database_of(params.get("host"), params.get("port"), params.get("dbname"))


def database_of_details(value: Any) -> tuple[str, str] | None:
    """The database a result names in details["target"] (`host:port/dbname`, checks/connect/database.py);
    None when it names none."""
    if not isinstance(value, str) or "/" not in value:
        return None
    address, _, dbname = value.rpartition("/")
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        host, port = address, ""
    return database_of(host, port, dbname)


@dataclass(frozen=True)
class Target:
    name: str = ""                     # the fleet's name for it (TARGET_NAME or a TARGETS entry)
    subscription: str = ""
    resource_group: str = ""           # of the PostgreSQL server
    server: str = ""                   # PostgreSQL flexible server
    storage_account: str = ""
    storage_resource_group: str = ""
    override: bool = False             # a caller replaced part of the configured target
    database_host: str | None = None   # host[:port] of the database the checks read (None: not recorded)
    database_name: str | None = None

    @classmethod
    def from_settings(cls, settings: Any, override: bool = False) -> "Target":
        host, dbname = database_of_settings(settings)
        return cls(name=settings.target_name or "", subscription=settings.azure_subscription_id or "", resource_group=settings.pg_resource_group or "",
                   server=settings.pg_server_name or "", storage_account=settings.storage_account_name or "",
                   storage_resource_group=settings.storage_resource_group or "", override=override,
                   database_host=host, database_name=dbname)

    def resources(self) -> tuple[str, ...]:
        """What identifies the Azure resources (case-insensitive in Azure), without the name, the override
        flag and the database (`database()`)."""
        return tuple(getattr(self, f.name).lower() for f in fields(self)
                     if f.name not in ("name", "override", *_DB_FIELDS))

    def same_resources(self, other: "Target") -> bool:
        return self.resources() == other.resources()

    def database(self) -> tuple[str, str] | None:
        """(host[:port], dbname) of the database its checks read; None when not recorded."""
        if self.database_host is None and self.database_name is None:
            return None
        return (self.database_host or "").lower(), self.database_name or ""

    def known_database(self) -> tuple[str, str] | None:
        """database() when one is configured (host or name), else None: a report made where no database is
        configured cannot tell which database is production's."""
        found = self.database()
        return found if found is not None and any(found) else None

    def database_label(self) -> str:
        found = self.database()
        if found is None:
            return "database not recorded"
        return f"{found[0] or 'local socket'}/{found[1]}"

    def label(self) -> Message:
        """The target in one readable line, the same in the CLI, the reports, the JSON and the fleet rows:
        `production — PostgreSQL server psql-prod (resource group rg-prod), storage account stprod (resource
        group rg-data), database psql-prod.postgres.database.azure.com/medicapp, subscription 1234...`; without
        a server or storage account `local stack (no Azure target)` (or `no Azure target` when the database is
        not on this machine)."""
        what = join_messages(self._parts(), ", ")
        if self.override:
            return msg("{name} (override) — {what}", name=self.name, what=what) if self.name else \
                msg("override — {what}", what=what)
        return msg("{name} — {what}", name=self.name, what=what) if self.name else what

    def _parts(self) -> list[Message]:
        parts = []
        if self.server:
            parts.append(_resource(msg("PostgreSQL server {name}", name=self.server), self.resource_group))
        if self.storage_account:
            parts.append(_resource(msg("storage account {name}", name=self.storage_account),
                                   self.storage_resource_group))
        recorded = self.database()
        host, dbname = recorded or ("", "")
        if not parts:  # a run journaled before databases were: not known to be local
            parts.append(msg("local stack (no Azure target)") if recorded is not None and _is_local(host)
                         else msg("no Azure target"))
        if host and dbname:
            parts.append(msg("database {host}/{dbname}", host=host, dbname=dbname))
        elif dbname:
            parts.append(msg("database {dbname} (local socket)", dbname=dbname))
        elif host:
            parts.append(msg("database server {host}", host=host))
        if self.subscription and (self.server or self.storage_account):
            parts.append(msg("subscription {subscription}", subscription=self.subscription))
        return parts

    def to_dict(self) -> dict[str, Any]:
        """Its fields and, for people reading the JSON, its `label` (English; ignored by from_dict)."""
        return asdict(self) | {"label": str(self.label())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Target | None":
        if not data:
            return None
        known = {f.name for f in fields(cls)} & set(data)
        return cls(**{k: bool(data[k]) if k == "override" else None if k in _DB_FIELDS and data[k] is None
                      else str(data[k] or "") for k in known})

    def to_columns(self) -> dict[str, Any]:
        """Flat journal columns (Azure Storage Explorer shows them as they are); the database columns only
        when recorded."""
        return ({column: getattr(self, attr) for attr, column in _COLUMNS.items()} | {"TargetOverride": self.override}
                | {column: getattr(self, attr) for attr, column in _DB_COLUMNS.items() if getattr(self, attr) is not None})

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> "Target | None":
        """None for entities written before targets were journaled (they still read)."""
        if "TargetOverride" not in row:
            return None
        return cls(**{attr: str(row.get(column) or "") for attr, column in _COLUMNS.items()},
                   override=bool(row.get("TargetOverride")),
                   **{attr: _column_text(row[column]) for attr, column in _DB_COLUMNS.items() if column in row})


_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def _is_local(host: str) -> bool:
    """host[:port] on this machine (or a socket directory, or none: libpq's local socket)."""
    address, _, port = host.rpartition(":")
    return host in _LOCAL_HOSTS or host.startswith("/") or (port.isdigit() and address in _LOCAL_HOSTS)


def _resource(what: Message, group: str) -> Message:
    return msg("{what} (resource group {group})", what=what, group=group) if group else what


def _column_text(value: Any) -> str:
    """A database column as stored; anything but short printable text reads as UNREADABLE (never production's)."""
    if value is None:
        return ""
    return value if isinstance(value, str) and len(value) <= 300 and value.isprintable() else UNREADABLE


UNREADABLE = "(unreadable)"


TARGET_DATABASE_COLUMNS = tuple(_DB_COLUMNS.values())
