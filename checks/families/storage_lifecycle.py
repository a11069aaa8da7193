"""blob.lifecycle: no lifecycle management rule deletes documents, versions or snapshots of the
checked containers before the retention window is over.

`management_policies.get(rg, account, "default")` (Reader on the storage account); a 404 means
the account has no lifecycle policy (proven by reading the account itself, shared with the
other storage checks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.connect.azure import storage_account, storage_read
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn, plain
from checks.engine.model import CheckError, Outcome
from checks.engine.controls import PROTECTION
from checks.engine.registry import check

# the `delete` action's day conditions in the SDK (DateAfterModification / DateAfterCreation)
_DAY_FIELDS = ("days_after_modification_greater_than", "days_after_creation_greater_than",
               "days_after_last_access_time_greater_than")
TARGETS = ("base_blob", "version", "snapshot")


@dataclass(frozen=True)
class DeleteAction:
    rule: str
    target: str  # base_blob | version | snapshot
    days: float  # deleted once older than this many days (the smallest condition)
    prefixes: tuple[str, ...]  # empty = every container


@dataclass(frozen=True)
class LifecycleFacts:
    account: str
    has_policy: bool
    containers: tuple[str, ...]  # empty = BLOB_CONTAINERS not set: every rule counts
    deletes: tuple[DeleteAction, ...]  # of the enabled rules only
    disabled_rules: tuple[str, ...]


def applies_to(prefix: str, container: str) -> bool:
    """prefixMatch is matched against "container/blob": does `prefix` reach into `container`?"""
    path = container + "/"
    return prefix.startswith(path) or path.startswith(prefix)


def evaluate_lifecycle(facts: LifecycleFacts, settings: Settings) -> Outcome:
    """Passes when the account has no lifecycle policy, or no enabled rule that reaches a checked
    container deletes base blobs, versions or snapshots younger than BLOB_RETENTION_MIN_DAYS.
    Fails naming each rule, target and day count that deletes earlier."""
    window = settings.blob_retention_min_days
    details: dict[str, Any] = {"account": facts.account, "has_policy": facts.has_policy, "window_days": window,
                               "containers": list(facts.containers), "disabled_rules": list(facts.disabled_rules)}
    if not facts.has_policy:
        return Outcome.passed(msg("no lifecycle management policy on {account}: nothing is deleted by rule",
                                  account=facts.account), **details)
    relevant = [d for d in facts.deletes
                if not facts.containers or not d.prefixes
                or any(applies_to(p, c) for p in d.prefixes for c in facts.containers)]
    early = [d for d in relevant if d.days < window]
    details["delete_actions"] = [{"rule": d.rule, "target": d.target, "days": d.days, "prefixes": list(d.prefixes)}
                                 for d in relevant]
    if early:
        lines = [msgn("rule {rule} deletes {target} after {days} day",
                      "rule {rule} deletes {target} after {days} days", "days",
                      rule=d.rule, target=_target_name(d.target),
                      days=plain(d.days)) for d in early]
        details["too_early"] = lines
        return Outcome.fail(msg("lifecycle policy on {account} deletes inside the {window}-day retention "
                                "window: {rules}", account=facts.account, window=window, rules=join_messages(lines)),
                            msgn("Raise the delete conditions of these lifecycle rules to at least {window} day, "
                                 "or narrow their prefixMatch so they do not reach the checked containers.",
                                 "Raise the delete conditions of these lifecycle rules to at least {window} days, "
                                 "or narrow their prefixMatch so they do not reach the checked containers.", "window",
                                 window=window), **details)
    if not relevant:
        return Outcome.passed(msgn("lifecycle policy on {account}: {count} delete action reaches the checked "
                                   "containers",
                                   "lifecycle policy on {account}: {count} delete actions reach the checked "
                                   "containers", "count", account=facts.account, count=0), **details)
    return Outcome.passed(msgn("lifecycle policy on {account}: {count} delete action reaches the checked "
                               "containers, after {days} days (≥ {window})",
                               "lifecycle policy on {account}: {count} delete actions reach the checked "
                               "containers, the earliest after {days} days (≥ {window})", "count",
                               account=facts.account,
                               count=len(relevant), days=plain(min(d.days for d in relevant)), window=window),
                          **details)


def _target_name(target: str) -> str:
    """What a delete action removes, in words (base_blob -> "base blobs")."""
    names = {"base_blob": msg("base blobs"), "version": msg("versions"), "snapshot": msg("snapshots")}
    return names.get(target) or target.replace("_", " ") + "s"


def _delete_days(action: Any) -> float | None:
    delete = getattr(action, "delete", None) if action is not None else None
    days = [getattr(delete, f, None) for f in _DAY_FIELDS] if delete is not None else []
    days = [d for d in days if d is not None]
    return min(days) if days else None


def lifecycle_facts(policy: Any, account: str, containers: tuple[str, ...]) -> LifecycleFacts:
    """Plain facts from the SDK's ManagementPolicy (None = no policy)."""
    if policy is None:
        return LifecycleFacts(account, False, containers, (), ())
    rules = getattr(getattr(getattr(policy, "properties", None), "policy", None), "rules", None) or []
    deletes, disabled = [], []
    for rule in rules:
        if rule.enabled is False:  # `enabled` is optional: a rule counts unless it says false
            disabled.append(rule.name)
            continue
        definition = rule.definition
        prefixes = tuple(getattr(definition.filters, "prefix_match", None) or ()) if definition.filters else ()
        for target in TARGETS:
            days = _delete_days(getattr(definition.actions, target, None))
            if days is not None:
                deletes.append(DeleteAction(rule.name, target, days, prefixes))
    return LifecycleFacts(account, True, containers, tuple(deletes), tuple(disabled))


def management_policy(ctx: RunContext) -> Any:
    """The account's lifecycle policy, or None when it has none (404 on a readable account)."""
    try:
        return storage_read(ctx, "management-policy",
                            lambda c, rg, account: c.management_policies.get(rg, account, "default"))
    except CheckError as exc:
        if exc.details.get("http_status") != 404:
            raise
        storage_account(ctx)  # the account exists (else this raises its own 404): the policy does not
        return None


@check(id="blob.lifecycle", title="Lifecycle rules keep documents through the retention window",
       severity="high",
       remediation="Raise lifecycle delete conditions to at least BLOB_RETENTION_MIN_DAYS for the checked containers.",
       risk="A lifecycle rule can silently delete documents or their versions before anyone notices a loss.",
        controls=PROTECTION)
def lifecycle(ctx: RunContext) -> Outcome:
    policy = management_policy(ctx)
    return evaluate_lifecycle(lifecycle_facts(policy, ctx.settings.storage_account_name,
                                              tuple(ctx.settings.blob_containers)), ctx.settings)
