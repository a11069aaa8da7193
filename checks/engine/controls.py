"""The control catalogue: which audit controls the checks and the restore drill evidence (issue 30 item 2).

One place for every control an auditor asks about: its id (`<framework>:<reference>`), its framework,
a short English text (French through the catalog: `N_` marks it, the report translates it), whether a
restore drill is required within the period (C5 OPS-08: at least yearly), and, for what no check can
see, what the auditor must be shown instead (`procedural`).

A check says which controls it evidences in its registry metadata (`@check(..., controls=...)`,
checks/engine/registry.py); the groups below name the usual sets so each family states them in one word.
The texts are short paraphrases for orientation, never the standards' wording: the auditor reads the
standard itself.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from checks.engine.i18n import N_, msg

FRAMEWORKS: dict[str, str] = {  # key (CLI, URL, page names) -> the framework's name as auditors write it
    "iso27001": "ISO/IEC 27001:2022",
    "hds": "HDS v2 (2024)",
    "c5": "BSI C5:2020",
    "soc2": "SOC 2 (TSC 2017)",
}


@dataclass(frozen=True)
class Control:
    id: str          # "c5:OPS-08": framework key, then the standard's own reference
    text: str        # short English text (N_: translated when shown)
    drill_required: bool = False  # not met without a restore drill of each target within the period
    procedural: str = ""  # what the auditor must see besides (or, without a check, instead of) the evidence

    @property
    def framework(self) -> str:
        return self.id.partition(":")[0]

    @property
    def reference(self) -> str:
        return self.id.partition(":")[2]


CATALOGUE: tuple[Control, ...] = (
    Control("iso27001:A.8.13", N_("Information backup: backup copies are kept and regularly tested as agreed in "
                                  "the backup policy"),
            procedural=N_("The topic-specific backup policy (what is backed up, how often, how long it is kept)")),
    Control("iso27001:A.5.30", N_("ICT readiness for business continuity: recovery is planned, implemented and "
                                  "tested against the continuity objectives"), drill_required=True,
            procedural=N_("The business continuity plan with its recovery time and recovery point objectives")),
    Control("hds:EXI 21", N_("Hosting of health data: where the hosted data and their backups are kept is known "
                             "and controlled"),
            procedural=N_("The hosting contract stating the locations of the data and of their backups")),
    Control("hds:EXI 28", N_("Health data, backups included, are stored only in the European Economic Area")),
    Control("c5:OPS-06", N_("Backup concept: what is backed up, how often and how long, protected against loss "
                            "and tampering"),
            procedural=N_("The written backup concept, approved and reviewed at least once a year")),
    Control("c5:OPS-07", N_("Backup monitoring: the execution of backups is monitored and failures are acted "
                            "upon")),
    Control("c5:OPS-08", N_("Restore tests at least once a year: RTO and RPO assessed, access rules matching "
                            "production, documented including the safe disposal of restored data"),
            drill_required=True),
    Control("soc2:A1.2", N_("Backup and recovery infrastructure is implemented, operated and monitored")),
    Control("soc2:A1.3", N_("Recovery plan procedures are tested periodically"), drill_required=True),
)
CONTROLS: dict[str, Control] = {c.id: c for c in CATALOGUE}

# the usual sets, named once: each check family states which it evidences (registry metadata)
PROTECTION = ("iso27001:A.8.13", "c5:OPS-06", "soc2:A1.2")  # a backup setting that keeps copies safe
MONITORING = ("iso27001:A.8.13", "c5:OPS-07", "soc2:A1.2")  # the backups' execution watched
INTEGRITY = ("c5:OPS-07", "soc2:A1.2")  # production's data watched for loss the backups must cover
LOCATION = ("iso27001:A.8.13", "hds:EXI 21", "hds:EXI 28")  # where the copies are
RESTORE_TEST = ("iso27001:A.8.13", "iso27001:A.5.30", "c5:OPS-08", "soc2:A1.3")  # a restore performed


class UnknownFramework(ValueError):
    """A framework name that is not in the catalogue; the message lists the known ones (did you mean ...)."""


def check_framework(name: object) -> str:
    """The framework key for `name` (case and spaces ignored); UnknownFramework naming the known keys."""
    text = str(name if name is not None else "")
    key = text.strip().lower()
    if key in FRAMEWORKS:
        return key
    near = difflib.get_close_matches(key.replace(" ", "").replace("-", "")[:40], list(FRAMEWORKS), n=1, cutoff=0.5)
    hint = msg("; did you mean {name}?", name=near[0]) if near else ""
    raise UnknownFramework(msg("framework must be one of {known}, got {value}{hint}", known=", ".join(FRAMEWORKS),
                               value=repr(text[:40]), hint=hint))


def framework_controls(framework: str) -> list[Control]:
    return [c for c in CATALOGUE if c.framework == framework]


def mapped_checks(control_id: str, specs) -> tuple[str, ...]:
    """The ids of the checks (CheckSpecs) whose metadata names `control_id`, sorted."""
    return tuple(sorted(s.id for s in specs if control_id in s.controls))
