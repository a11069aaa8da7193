"""Logging for the Function App: every record passes the redaction filter before it leaves.

Application Insights collects the records of the root logger; `extra` fields (run_id, check_id,
status) become custom dimensions there.
"""
from __future__ import annotations

import logging
import os

from checks.engine.redact import RedactingFilter

_FILTER = RedactingFilter()


def configure_logging(level: str | None = None) -> None:
    root = logging.getLogger()
    level_name = (level or os.environ.get("LOG_LEVEL") or "info").upper()
    root.setLevel(getattr(logging, level_name, logging.INFO))
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    logging.getLogger("azure").setLevel(logging.WARNING)  # SDK request logs may carry URLs with SAS
