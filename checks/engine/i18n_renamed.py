"""Message ids journaled before counted texts had plural forms, and the counted form each became
(singular, plural, name of the count parameter). checks/engine/i18n.py renders an old fact through
this table, so a month stored earlier reads "1 jour" in French too. Data only: add a row when an
id that was ever journaled becomes a msgn(...)."""
from __future__ import annotations

RENAMED: dict[str, tuple[str, str, str]] = {
    "; cleaned {count} canary(ies) left by earlier runs":
        ("; cleaned {count} canary left by an earlier run", "; cleaned {count} canaries left by earlier runs", "count"),
    "blob soft delete keeps deleted blobs {days} days on {account}, below the required {min_days}-{max_days} days":
        ("blob soft delete keeps deleted blobs {days} day on {account}, below the required {min_days}-{max_days} "
         "days",
         "blob soft delete keeps deleted blobs {days} days on {account}, below the required {min_days}-{max_days} "
         "days",
         "days"),
    "Enable blob soft delete with a retention of {min_days}-{max_days} days (Data protection → 'Enable soft delete "
    "for blobs').":
        ("Enable blob soft delete with a retention of {min_days}-{max_days} day (Data protection → 'Enable soft "
         "delete for blobs').",
         "Enable blob soft delete with a retention of {min_days}-{max_days} days (Data protection → 'Enable soft "
         "delete for blobs').",
         "max_days"),
    "Set the blob soft delete retention of {account} to {min_days}-{max_days} days.":
        ("Set the blob soft delete retention of {account} to {min_days}-{max_days} day.",
         "Set the blob soft delete retention of {account} to {min_days}-{max_days} days.",
         "max_days"),
    "blob soft delete keeps deleted blobs {days} days on {account}, above the policy's {min_days}-{max_days} days "
    "({containers})":
        ("blob soft delete keeps deleted blobs {days} days on {account}, above the policy's {min_days}-{max_days} "
         "day ({containers})",
         "blob soft delete keeps deleted blobs {days} days on {account}, above the policy's {min_days}-{max_days} "
         "days ({containers})",
         "max_days"),
    "Lower the blob soft delete retention of {account} to at most {max_days} days (deleted patient documents must "
    "not be kept longer than the policy says), or raise BLOB_RETENTION_MAX_DAYS if the policy changed.":
        ("Lower the blob soft delete retention of {account} to at most {max_days} day (deleted patient documents "
         "must not be kept longer than the policy says), or raise BLOB_RETENTION_MAX_DAYS if the policy changed.",
         "Lower the blob soft delete retention of {account} to at most {max_days} days (deleted patient documents "
         "must not be kept longer than the policy says), or raise BLOB_RETENTION_MAX_DAYS if the policy changed.",
         "max_days"),
    "blob soft delete on ({days} days), but container soft delete is OFF on {account}: a deleted container cannot "
    "be restored":
        ("blob soft delete on ({days} day), but container soft delete is OFF on {account}: a deleted container "
         "cannot be restored",
         "blob soft delete on ({days} days), but container soft delete is OFF on {account}: a deleted container "
         "cannot be restored",
         "days"),
    "Enable container soft delete on {account} (Data protection → 'Enable soft delete for containers'), e.g. with "
    "the same {days} days.":
        ("Enable container soft delete on {account} (Data protection → 'Enable soft delete for containers'), e.g. "
         "with the same {days} day.",
         "Enable container soft delete on {account} (Data protection → 'Enable soft delete for containers'), e.g. "
         "with the same {days} days.",
         "days"),
    "blob soft delete on, {days} days (within {min_days}-{max_days}); {containers}":
        ("blob soft delete on, {days} day (within {min_days}-{max_days}); {containers}",
         "blob soft delete on, {days} days (within {min_days}-{max_days}); {containers}",
         "days"),
    "container soft delete on ({days} days)":
        ("container soft delete on ({days} day)",
         "container soft delete on ({days} days)",
         "days"),
    "point-in-time restore on ({days} days)":
        ("point-in-time restore on ({days} day)",
         "point-in-time restore on ({days} days)",
         "days"),
    "{container}: {name} ({age} days old)":
        ("{container}: {name} ({age} day old)",
         "{container}: {name} ({age} days old)",
         "age"),
    "{container}: none of the first {listed} blobs is recent (newest {name}, {age} days); listing capped":
        ("{container}: none of the first {listed} blobs is recent (newest {name}, {age} day); listing capped",
         "{container}: none of the first {listed} blobs is recent (newest {name}, {age} days); listing capped",
         "age"),
    "{container}: newest blob {name} is {age} days old":
        ("{container}: newest blob {name} is {age} day old",
         "{container}: newest blob {name} is {age} days old",
         "age"),
    "recent file within {days} days: {containers}":
        ("recent file within {days} day: {containers}",
         "recent file within {days} days: {containers}",
         "days"),
    "no file younger than {days} days: {containers}":
        ("no file younger than {days} day: {containers}",
         "no file younger than {days} days: {containers}",
         "days"),
    "{count} deleted blob(s) listed as restorable, e.g. {blob}":
        ("{count} deleted blob listed as restorable, e.g. {blob}",
         "{count} deleted blobs listed as restorable, e.g. {blob}",
         "count"),
    "{count} deleted blob(s) listed as restorable, e.g. {blob} ({days} days left)":
        ("{count} deleted blob listed as restorable, e.g. {blob} ({days} days left)",
         "{count} deleted blobs listed as restorable, e.g. {blob} ({days} days left)",
         "count"),
    "{container}: {name} ({age} days old){gone}":
        ("{container}: {name} ({age} day old){gone}",
         "{container}: {name} ({age} days old){gone}",
         "age"),
    "{container}: no present blob found in the {days} days read{gone}":
        ("{container}: no present blob found in the {days} day read{gone}",
         "{container}: no present blob found in the {days} days read{gone}",
         "days"),
    "{container}: no blob created in the last {days} days{gone}":
        ("{container}: no blob created in the last {days} day{gone}",
         "{container}: no blob created in the last {days} days{gone}",
         "days"),
    "{missing} of {count} blob(s) deleted in the last {days} days are not listed as deleted blobs: {blobs}":
        ("{missing} of {count} blob deleted in the last {days} days is not listed as a deleted blob: {blobs}",
         "{missing} of {count} blobs deleted in the last {days} days are not listed as deleted blobs: {blobs}",
         "count"),
    "no blob deleted in {containers} in the last {days} days (change feed); blob.canary proves deletion and "
    "restore live":
        ("no blob deleted in {containers} in the last {days} day (change feed); blob.canary proves deletion and "
         "restore live",
         "no blob deleted in {containers} in the last {days} days (change feed); blob.canary proves deletion and "
         "restore live",
         "days"),
    ", {days} days left":
        (", {days} day left",
         ", {days} days left",
         "days"),
    "{count} blob(s) deleted in the last {days} days are listed as restorable, e.g. {blob} (deleted {at}{left})":
        ("{count} blob deleted in the last {days} days is listed as restorable, e.g. {blob} (deleted {at}{left})",
         "{count} blobs deleted in the last {days} days are listed as restorable, e.g. {blob} (deleted {at}{left})",
         "count"),
    "versioning is on but the overwritten version {version} is not listed as a previous version ({count} "
    "version(s) listed)":
        ("versioning is on but the overwritten version {version} is not listed as a previous version ({count} "
         "version listed)",
         "versioning is on but the overwritten version {version} is not listed as a previous version ({count} "
         "versions listed)",
         "count"),
    "{count} versions listed":
        ("{count} version listed",
         "{count} versions listed",
         "count"),
    "Alembic version table {table} has {count} rows ({revisions}); expected one":
        ("Alembic version table {table} has {count} row ({revisions}); expected one",
         "Alembic version table {table} has {count} rows ({revisions}); expected one",
         "count"),
    "{table} has {rows} rows, below the minimum of {minimum}":
        ("{table} has {rows} row, below the minimum of {minimum}",
         "{table} has {rows} rows, below the minimum of {minimum}",
         "rows"),
    "possible data loss: {table} dropped from {before} to {rows} rows (-{drop} %, threshold {threshold} %)":
        ("possible data loss: {table} dropped from {before} to {rows} row (-{drop} %, threshold {threshold} %)",
         "possible data loss: {table} dropped from {before} to {rows} rows (-{drop} %, threshold {threshold} %)",
         "rows"),
    "newest backup {backup}, {hours} h AHEAD of the verifier's clock ({now}): clock skew, its age cannot be "
    "judged; {count} backups listed":
        ("newest backup {backup}, {hours} h AHEAD of the verifier's clock ({now}): clock skew, its age cannot be "
         "judged; {count} backup listed",
         "newest backup {backup}, {hours} h AHEAD of the verifier's clock ({now}): clock skew, its age cannot be "
         "judged; {count} backups listed",
         "count"),
    "newest backup {backup}, {hours} h ago: older than {max_age} h; {count} backups listed":
        ("newest backup {backup}, {hours} h ago: older than {max_age} h; {count} backup listed",
         "newest backup {backup}, {hours} h ago: older than {max_age} h; {count} backups listed",
         "count"),
    "newest backup {backup}, {hours} h ago (limit {max_age} h); {count} backups listed":
        ("newest backup {backup}, {hours} h ago (limit {max_age} h); {count} backup listed",
         "newest backup {backup}, {hours} h ago (limit {max_age} h); {count} backups listed",
         "count"),
    "earliest restore point {earliest} covers only {covered} of the {days} days of retention: {hours} h short "
    "(tolerance {tolerance} h); server created {created}":
        ("earliest restore point {earliest} covers only {covered} of the {days} day of retention: {hours} h short "
         "(tolerance {tolerance} h); server created {created}",
         "earliest restore point {earliest} covers only {covered} of the {days} days of retention: {hours} h short "
         "(tolerance {tolerance} h); server created {created}",
         "days"),
    "earliest restore point {earliest} covers only {covered} of the {days} days of retention: {hours} h short "
    "(tolerance {tolerance} h)":
        ("earliest restore point {earliest} covers only {covered} of the {days} day of retention: {hours} h short "
         "(tolerance {tolerance} h)",
         "earliest restore point {earliest} covers only {covered} of the {days} days of retention: {hours} h short "
         "(tolerance {tolerance} h)",
         "days"),
    "backup retention {days} days is below the required {min_days}":
        ("backup retention {days} day is below the required {min_days}",
         "backup retention {days} days is below the required {min_days}",
         "days"),
    "Raise the server's backup retention period to at least {min_days} days (portal: Compute + storage > Backup "
    "retention period).":
        ("Raise the server's backup retention period to at least {min_days} day (portal: Compute + storage > "
         "Backup retention period).",
         "Raise the server's backup retention period to at least {min_days} days (portal: Compute + storage > "
         "Backup retention period).",
         "min_days"),
    "retention {days} days (required ≥ {min_days}), geo-redundant backup {geo}, earliest restore point {earliest} "
    "covers the window; server {state}":
        ("retention {days} day (required ≥ {min_days}), geo-redundant backup {geo}, earliest restore point "
         "{earliest} covers the window; server {state}",
         "retention {days} days (required ≥ {min_days}), geo-redundant backup {geo}, earliest restore point "
         "{earliest} covers the window; server {state}",
         "days"),
    "newest long-term retention backup {backup} is {age_days} days old (limit LTR_MAX_AGE_DAYS={max_days})":
        ("newest long-term retention backup {backup} is {age_days} day old (limit LTR_MAX_AGE_DAYS={max_days})",
         "newest long-term retention backup {backup} is {age_days} days old (limit LTR_MAX_AGE_DAYS={max_days})",
         "age_days"),
    "newest long-term retention backup {backup} succeeded {age_days} days ago (limit {max_days})":
        ("newest long-term retention backup {backup} succeeded {age_days} day ago (limit {max_days})",
         "newest long-term retention backup {backup} succeeded {age_days} days ago (limit {max_days})",
         "age_days"),
    "rule {rule} deletes {target} after {days} days":
        ("rule {rule} deletes {target} after {days} day",
         "rule {rule} deletes {target} after {days} days",
         "days"),
    "Raise the delete conditions of these lifecycle rules to at least {window} days, or narrow their prefixMatch "
    "so they do not reach the checked containers.":
        ("Raise the delete conditions of these lifecycle rules to at least {window} day, or narrow their "
         "prefixMatch so they do not reach the checked containers.",
         "Raise the delete conditions of these lifecycle rules to at least {window} days, or narrow their "
         "prefixMatch so they do not reach the checked containers.",
         "window"),
    "lifecycle policy on {account}: {count} delete action(s) reach the checked containers, the earliest after "
    "{days} days (≥ {window})":
        ("lifecycle policy on {account}: {count} delete action reaches the checked containers, after {days} days "
         "(≥ {window})",
         "lifecycle policy on {account}: {count} delete actions reach the checked containers, the earliest after "
         "{days} days (≥ {window})",
         "count"),
    "Enable container soft delete on {account} with {min_days}-{max_days} days (Data protection → 'Enable soft "
    "delete for containers').":
        ("Enable container soft delete on {account} with {min_days}-{max_days} day (Data protection → 'Enable soft "
         "delete for containers').",
         "Enable container soft delete on {account} with {min_days}-{max_days} days (Data protection → 'Enable "
         "soft delete for containers').",
         "max_days"),
    "container soft delete keeps deleted containers {days} days on {account}, below the required "
    "{min_days}-{max_days} days":
        ("container soft delete keeps deleted containers {days} day on {account}, below the required "
         "{min_days}-{max_days} days",
         "container soft delete keeps deleted containers {days} days on {account}, below the required "
         "{min_days}-{max_days} days",
         "days"),
    "container soft delete keeps deleted containers {days} days on {account}, above the policy's "
    "{min_days}-{max_days} days":
        ("container soft delete keeps deleted containers {days} days on {account}, above the policy's "
         "{min_days}-{max_days} day",
         "container soft delete keeps deleted containers {days} days on {account}, above the policy's "
         "{min_days}-{max_days} days",
         "max_days"),
    "Lower the container soft delete retention of {account} to at most {max_days} days, or raise "
    "BLOB_RETENTION_MAX_DAYS if the policy changed.":
        ("Lower the container soft delete retention of {account} to at most {max_days} day, or raise "
         "BLOB_RETENTION_MAX_DAYS if the policy changed.",
         "Lower the container soft delete retention of {account} to at most {max_days} days, or raise "
         "BLOB_RETENTION_MAX_DAYS if the policy changed.",
         "max_days"),
    "container soft delete on, {days} days (within {min_days}-{max_days})":
        ("container soft delete on, {days} day (within {min_days}-{max_days})",
         "container soft delete on, {days} days (within {min_days}-{max_days})",
         "days"),
    "point-in-time restore on, {restore_days} days (soft delete {soft_delete_days} days); earliest restore point "
    "{earliest}":
        ("point-in-time restore on, {restore_days} day (soft delete {soft_delete_days} days); earliest restore "
         "point {earliest}",
         "point-in-time restore on, {restore_days} days (soft delete {soft_delete_days} days); earliest restore "
         "point {earliest}",
         "restore_days"),
    "blob change feed keeps {days} days on {account}, fewer than the {restore_days} days point-in-time restore "
    "goes back":
        ("blob change feed keeps {days} day on {account}, fewer than the {restore_days} days point-in-time restore "
         "goes back",
         "blob change feed keeps {days} days on {account}, fewer than the {restore_days} days point-in-time "
         "restore goes back",
         "days"),
    "blob change feed on, {days} days":
        ("blob change feed on, {days} day",
         "blob change feed on, {days} days",
         "days"),
    "blob change feed on, {days} days (≥ {restore_days} restore days)":
        ("blob change feed on, {days} day (≥ {restore_days} restore days)",
         "blob change feed on, {days} days (≥ {restore_days} restore days)",
         "days"),
    "version-level WORM on {account} (policy {state}, {days} days)":
        ("version-level WORM on {account} (policy {state}, {days} day)",
         "version-level WORM on {account} (policy {state}, {days} days)",
         "days"),
    "{count} run(s) recorded this month":
        ("{count} run recorded this month",
         "{count} runs recorded this month",
         "count"),
    "restore of {count} blob(s) in {container}/{prefix} requested by {by}":
        ("restore of {count} blob in {container}/{prefix} requested by {by}",
         "restore of {count} blobs in {container}/{prefix} requested by {by}",
         "count"),
    "{restored} of {total} blob(s) restored ({verified} hash-verified, {differs} differing), {failed} failed, "
    "{pending} copy pending":
        ("{restored} of {total} blob restored ({verified} hash-verified, {differs} differing), {failed} failed, "
         "{pending} copy pending",
         "{restored} of {total} blobs restored ({verified} hash-verified, {differs} differing), {failed} failed, "
         "{pending} copies pending",
         "total"),
    "median of the last {count} drill(s): {durations} min":
        ("median of the last {count} drill: {durations} min",
         "median of the last {count} drills: {durations} min",
         "count"),
    "{lost} row(s) of {probe} up to {point} missing on the restored server ({restored} vs {production} in "
    "production)":
        ("{lost} row of {probe} up to {point} missing on the restored server ({restored} vs {production} in "
         "production)",
         "{lost} rows of {probe} up to {point} missing on the restored server ({restored} vs {production} in "
         "production)",
         "lost"),
    "production holds {fewer} row(s) FEWER than the restore up to {point} in {probe} (deleted since?); RPO "
    "{seconds} s":
        ("production holds {fewer} row FEWER than the restore up to {point} in {probe} (deleted since?); RPO "
         "{seconds} s",
         "production holds {fewer} rows FEWER than the restore up to {point} in {probe} (deleted since?); RPO "
         "{seconds} s",
         "fewer"),
    "RPO {seconds} s (newest {probe} restored: {newest}), 0 rows lost up to T ({rows} rows)":
        ("RPO {seconds} s (newest {probe} restored: {newest}), 0 rows lost up to T ({rows} row)",
         "RPO {seconds} s (newest {probe} restored: {newest}), 0 rows lost up to T ({rows} rows)",
         "rows"),
    "restored {server} to {point} ({rto}); {checks} database checks pass, {compared}, Alembic {revision}":
        ("restored {server} to {point} ({rto}); {checks} database check passes, {compared}, Alembic {revision}",
         "restored {server} to {point} ({rto}); {checks} database checks pass, {compared}, Alembic {revision}",
         "checks"),
    "{count} table(s) ≤ production":
        ("{count} table ≤ production",
         "{count} tables ≤ production",
         "count"),
    "no succeeded long-term retention backup for server {server} ({count} operation(s) listed)":
        ("no succeeded long-term retention backup for server {server} ({count} operation listed)",
         "no succeeded long-term retention backup for server {server} ({count} operations listed)",
         "count"),
    "lifecycle policy on {account}: {count} delete action(s) reach the checked containers":
        ("lifecycle policy on {account}: {count} delete action reaches the checked containers",
         "lifecycle policy on {account}: {count} delete actions reach the checked containers",
         "count"),
    "{count} sign-off(s) recorded without a target (before targets had names): not shown":
        ("{count} sign-off recorded without a target (before targets had names): not shown",
         "{count} sign-offs recorded without a target (before targets had names): not shown",
         "count"),
}


# An id split in two, and how to tell which one an old fact meant: id -> (parameter, the parameter's id
# when the fact meant several, the id for one). "{names} not set" named one variable or several
# ("A, B and C"): French says "non défini" for one and "non définis" for several.
SPLIT: dict[str, tuple[str, str, str]] = {
    "{names} not set": ("names", "{names} and {last}", "{name} not set"),
}
