"""One step of an Azure long-running operation (a restore PUT, a server DELETE) through the SDK's own
poller: `one_step_polling()` sends at most one status request per call and never sleeps; `step(poller)`
says what that request found (`LroStep`), with the operation's URL as Azure gave it on the first answer
(Azure-AsyncOperation, else Location): the id a drill records as proof of its server's disposal.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checks.engine.redact import first_line
from checks.engine.timeutil import parse_iso


def one_step_polling():
    """ARMPolling that sends at most one status request per call and never sleeps.

    The SDK's poller runs `run()` in a thread; with this method it returns after one status GET
    (plus the final GET when the operation has just succeeded), so `poller.wait()` is short and
    the function's invocation ends. The next invocation rebuilds the poller from the continuation
    token kept in the drill state and polls once more.
    """
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    class _PollLater(Exception):
        pass

    class OneStepARMPolling(ARMPolling):
        last_status_body: dict = {}
        operation_url: str = ""  # the first answer's Azure-AsyncOperation (else Location) header

        def initialize(self, client, initial_response, deserialization_callback) -> None:
            # also called when the poller is rebuilt from a continuation token: the first answer comes back with it
            super().initialize(client, initial_response, deserialization_callback)
            headers = getattr(getattr(initial_response, "http_response", None), "headers", None) or {}
            self.operation_url = headers.get("Azure-AsyncOperation") or headers.get("Location") or ""

        def _delay(self) -> None:  # where the SDK would sleep until the next poll
            raise _PollLater()

        def update_status(self) -> None:
            super().update_status()
            try:
                body = self._pipeline_response.http_response.json()
                self.last_status_body = body if isinstance(body, dict) else {}
            except ValueError:  # a status answer without a JSON body (Location polling)
                self.last_status_body = {}

        def run(self) -> None:
            try:
                super().run()
            except _PollLater:
                pass

    return OneStepARMPolling(0)


@dataclass
class LroStep:
    """What one poll of a long-running operation found."""
    status: str  # InProgress | Succeeded | Failed | Canceled
    token: str
    resource: Any = None
    error: str = ""
    end_time: datetime | None = None  # the operation's endTime as Azure reported it (None: not reported)
    operation: str = ""  # the operation's status URL (Azure-AsyncOperation, else Location); "" when none

    @property
    def done(self) -> bool:
        return self.status.lower() in ("succeeded", "failed", "canceled")

    @property
    def succeeded(self) -> bool:
        return self.status.lower() == "succeeded"


def step(poller) -> LroStep:
    from azure.core.exceptions import HttpResponseError

    method = poller.polling_method()
    try:
        poller.wait(60)  # one status request: bounded by the transport's timeouts, not by Azure
        failure = None
    except HttpResponseError as exc:
        failure = exc
    body = getattr(method, "last_status_body", {}) or {}
    try:
        end_time = parse_iso(body.get("endTime"))
    except ValueError:
        end_time = None
    token = poller.continuation_token()
    operation = str(getattr(method, "operation_url", "") or "")
    if failure is not None:
        error = body.get("error") or {}
        detail = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ") if error else ""
        return LroStep("Failed", token, error=detail or first_line(str(failure)), end_time=end_time,
                       operation=operation)
    status = method.status()
    return LroStep(status, token, method.resource() if status.lower() == "succeeded" else None,
                   end_time=end_time, operation=operation)
