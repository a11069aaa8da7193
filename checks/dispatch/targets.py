"""The targets a fleet message may name: TARGETS, else what DISCOVER_TAG finds, else the deployment's own.

A message carries a target's name only, never its resources: the handler looks the name up in the
deployment's own configuration or in a discovery made with the deployment's own identity, so whoever
may send to the queue can only ask for a target the deployment verifies anyway. Discovery is kept
per worker process for DISCOVERY_TTL_SECONDS: a monthly fan-out costs one Resource Graph query per
instance, not one per message (Resource Graph throttles each identity, docs "Guidance for throttled
requests"), and a target tagged or untagged since shows up within that time.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from checks.engine.fleet import FleetTarget, targets_of

DISCOVERY_TTL_SECONDS = 900.0  # longer than a monthly fan-out takes to drain, short enough to follow re-tagging

Discover = Callable[[Any], tuple[FleetTarget, ...]]
_found: dict[tuple[Any, ...], tuple[float, tuple[FleetTarget, ...]]] = {}
_lock = threading.Lock()


def message_targets(settings: Any, discover: Discover | None = None,
                    clock: Callable[[], float] = time.monotonic) -> tuple[FleetTarget, ...]:
    """The fleet a message's target name is looked up in. DiscoveryError when discovery fails (retrying may help)."""
    if settings.targets or not settings.discover_tag:
        return targets_of(settings)
    from checks.connect.discovery import discover_fleet, discovery_scope  # lazy: only discovering deployments
    key = (settings.discover_tag, discovery_scope(settings))
    with _lock:  # one query per process even when a batch of messages arrives at once
        at, found = _found.get(key, (0.0, ()))
        if not found or clock() - at >= DISCOVERY_TTL_SECONDS:
            found = (discover or discover_fleet)(settings)
            _found[key] = (clock(), found)
    return found


def message_target(settings: Any, name: str, discover: Discover | None = None) -> FleetTarget | None:
    return next((t for t in message_targets(settings, discover) if t.name == name), None)

