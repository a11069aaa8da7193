"""Logging for the Function App: every record passes the redaction filter before it leaves.

Application Insights collects the records of the root logger; `extra` fields (run_id, check_id,
status) become custom dimensions there.

The alerts (infra/modules/alerts.bicep) read the outcome lines of runs, drills, fleet messages and the
daily heartbeat; those are logged at WARNING (success, ok) or ERROR (failure), and their loggers
(ALERT_LOGGERS) never drop a WARNING: LOG_LEVEL=error quiets every other logger, never an alert.
"""
from __future__ import annotations

import logging
import os

from checks.engine.redact import RedactingFilter

_FILTER = RedactingFilter()
# the loggers whose lines an alert query reads (tests/test_alert_lines.py matches them at every LOG_LEVEL)
ALERT_LOGGERS = ("checks.service", "checks.http", "checks.dispatch", "checks.drill", "checks.drill_face",
                 "checks.heartbeat")


def configure_logging(level: str | None = None) -> None:
    root = logging.getLogger()
    level_name = (level or os.environ.get("LOG_LEVEL") or "info").upper()
    root.setLevel(getattr(logging, level_name, logging.INFO))
    for name in ALERT_LOGGERS:  # why: at LOG_LEVEL=error a WARNING outcome (run passed, heartbeat ok) must still go out
        logging.getLogger(name).setLevel(min(root.level, logging.WARNING))
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs may carry URLs with SAS
