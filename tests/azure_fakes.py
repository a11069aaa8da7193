"""Test-only: canned HTTP responses for the real Azure SDK clients (injected `transport=`).

`CannedTransport` answers requests from a list of routes (method + URL regex → response or a
sequence of responses), records every request, and fails loudly on an unexpected request.
`arm_fixture(name)` loads an official ARM example vendored in tests/fixtures/arm/ (SOURCES.md; never edited;
tests derive variants with `derive`).
"""
from __future__ import annotations

import copy
import io
import json
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._requests_basic import RestRequestsTransportResponse

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "arm"


ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sent:
    """One request a fake (or Azurite) received, for the permission contract (tests/test_permissions.py)."""
    method: str
    url: str
    status: int
    location: str = ""  # Azure-AsyncOperation / Location of the answer: a poll URL belongs to this request
    origin: str = ""  # the innermost project file that sent it: checks/... = the product, tests/... = setup
    test: str = ""  # the test that was running
    chain: tuple[str, ...] = ()  # every project file on the call stack, innermost first
    parts: tuple[tuple[str, str], ...] = ()  # a batch ($batch): (method, url) of each operation it carries
    identities: tuple[str, ...] = ()  # an ARM PUT body's user-assigned identities (assigned to the new resource)


# Session-wide: every request the suite's CannedTransports and the Azurite-backed SDK clients send.
SESSION_REQUESTS: list[Sent] = []


def _chain(frame=None) -> tuple[str, ...]:
    """The project files on the call stack, innermost first, then those of the code that started this
    thread (follow_threads): a request an SDK sends from its own thread (an LROPoller's status polls)
    belongs to the code that started the operation."""
    files: list[str] = []
    frame = frame or sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(ROOT) and ".venv" not in path.parts and path.name not in ("azure_fakes.py",
                                                                                         "conftest.py"):
            name = path.relative_to(ROOT).as_posix()
            if name not in files:
                files.append(name)
        frame = frame.f_back
    started_by = getattr(threading.current_thread(), _STARTED_BY, ())
    return tuple(files) + tuple(f for f in started_by if f not in files)


_STARTED_BY = "_sent_on_behalf_of"


def follow_threads() -> Callable[[], None]:
    """From now on a started thread remembers its starter's chain; returns the undo."""
    original = threading.Thread.start

    def start(self, *args, **kwargs):
        setattr(self, _STARTED_BY, _chain(sys._getframe(1)))
        return original(self, *args, **kwargs)

    threading.Thread.start = start
    return lambda: setattr(threading.Thread, "start", original)


def record(request, response) -> None:
    headers = getattr(response, "headers", {}) or {}
    location = headers.get("Azure-AsyncOperation") or headers.get("Location") or ""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    chain = _chain()
    SESSION_REQUESTS.append(Sent(request.method.upper(), request.url, int(response.status_code), location,
                                 chain[0] if chain else "", test, chain, batch_parts(request),
                                 assigned_identities(request)))


def assigned_identities(request) -> tuple[str, ...]:
    """The user-assigned identity ids an ARM PUT body gives its resource (`identity.userAssignedIdentities`)."""
    if request.method.upper() != "PUT" or "management.azure.com" not in request.url:
        return ()
    content = getattr(request, "content", None) or getattr(request, "body", None)
    try:
        body = json.loads(content) if isinstance(content, (str, bytes)) else None
    except ValueError:
        return ()
    identity = body.get("identity") if isinstance(body, dict) else None
    return tuple((identity or {}).get("userAssignedIdentities") or ())


def batch_parts(request) -> tuple[tuple[str, str], ...]:
    """The operations inside a multipart batch (a table entity-group transaction: batch > changeset > ops)."""
    info = getattr(request, "multipart_mixed_info", None)
    if not info:
        return ()
    out: list[tuple[str, str]] = []
    for part in info[0]:
        out.extend(batch_parts(part) or [(part.method.upper(), part.url)])
    return tuple(out)


def arm_fixture(name: str, status: str = "200") -> dict:
    """The response body (status 200 by default) of an official example file."""
    data = json.loads((FIXTURES / name).read_text())
    return copy.deepcopy(data["responses"][status]["body"])


def arm_example(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def derive(body: dict, path: str, value: Any) -> dict:
    """A deep copy of `body` with the dotted `path` set to `value` (e.g. properties.backup.backupRetentionDays)."""
    out = copy.deepcopy(body)
    node = out
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return out


@dataclass
class Canned:
    status: int = 200
    body: Any = None  # dict/list → JSON, bytes/str → raw
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    responses: list  # of Canned or callables(request) -> Canned; the last one repeats
    hits: int = 0


class CannedTransport(HttpTransport):
    def __init__(self):
        self.routes: list[Route] = []
        self.requests: list[Any] = []

    def add(self, method: str, url_regex: str, *responses: Canned | Callable[[Any], Canned]) -> "CannedTransport":
        self.routes.append(Route(method.upper(), re.compile(url_regex), list(responses)))
        return self

    def json(self, method: str, url_regex: str, body: Any, status: int = 200, **headers: str) -> "CannedTransport":
        return self.add(method, url_regex, Canned(status, body, headers))

    # --- HttpTransport ---------------------------------------------------------------------
    def send(self, request, **kwargs):
        self.requests.append(request)
        for route in self.routes:
            if route.method == request.method.upper() and route.pattern.search(request.url):
                canned = route.responses[min(route.hits, len(route.responses) - 1)]
                route.hits += 1
                if callable(canned):
                    canned = canned(request)
                response = _response(request, canned)
                record(request, response)
                return response
        raise AssertionError(f"unexpected request: {request.method} {request.url}")

    def open(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *args):
        pass

    # --- assertions helpers ------------------------------------------------------------------
    def urls(self, method: str | None = None) -> list[str]:
        return [r.url for r in self.requests if method is None or r.method.upper() == method.upper()]


def _response(request, canned: Canned):
    raw = requests.Response()
    raw.status_code = canned.status
    body = canned.body
    if isinstance(body, (dict, list)):
        payload = json.dumps(body).encode()
        raw.headers["Content-Type"] = "application/json; charset=utf-8"
    elif isinstance(body, str):
        payload = body.encode()
    else:
        payload = body or b""
    raw.headers["Content-Length"] = str(len(payload))
    raw.headers["x-ms-request-id"] = "00000000-0000-0000-0000-000000000000"
    for key, value in canned.headers.items():
        raw.headers[key] = value
    raw.raw = io.BytesIO(payload)
    raw.reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 401: "Unauthorized",
                  403: "Forbidden", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
                  500: "Internal Server Error"}.get(canned.status, "")
    raw.request = None
    raw.url = request.url
    return RestRequestsTransportResponse(request=request, internal_response=raw)


class StaticCredential:
    """A token credential for tests: always the same fake bearer token."""

    def __init__(self, token: str = "test-token"):
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, 4_102_444_800)

    def get_token_info(self, *scopes: str, options=None):
        from azure.core.credentials import AccessTokenInfo
        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, 4_102_444_800)


def arm_error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def sdk_kwargs(transport: CannedTransport) -> dict:
    """Client kwargs for tests: our transport, no retries, no polling delay."""
    return {"transport": transport, "retry_total": 0, "polling_interval": 0}


def lro_status(status: str, start: str, end: str | None = None, error: tuple[str, str] | None = None) -> Canned:
    """An Azure-AsyncOperation status answer: InProgress | Succeeded (with endTime) | Failed (with error)."""
    body: dict[str, Any] = {"name": "operation", "status": status, "startTime": start}
    if end and status == "Succeeded":
        body["endTime"] = end
    if error and status == "Failed":
        body["error"] = {"code": error[0], "message": error[1]}
    return Canned(200, body)


def sent_json(transport: CannedTransport, method: str) -> dict:
    """The JSON body of the first request sent with `method` (e.g. the PUT of a restore)."""
    request = next(r for r in transport.requests if r.method == method)
    return json.loads(getattr(request, "content", None) or request.body)
