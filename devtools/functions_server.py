"""A small local HTTP server in front of the Function App's real HTTP functions, for a browser.

`python devtools/functions_server.py [--port 7071]` serves the report pages locally (no Functions
host needed) and prints the overview's URL. Like `func start`, it takes the `Values` of
./local.settings.json (written by `make demo KEEP=1`) as app settings; the environment wins. The
browser tests (tests/test_pages_browser.py) use the same server.

Each GET becomes an `azure.functions.HttpRequest` (params, route params from the route templates
in function.json) handed to the registered function, as the Functions host would; the response's
status, headers and body go back unchanged. Like the host with `authLevel: FUNCTION`, it answers
401 unless the request carries the function key (`?code=` or `x-functions-key`), so a test that
follows links proves the links carry the key. Loopback only.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func


def _routes(functions: dict) -> list[tuple[re.Pattern, list[str], object]]:
    routes = []
    for function in functions.values():
        binding = json.loads(function.get_function_json())["bindings"][0]
        if binding.get("type") != "httpTrigger":
            continue
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(binding["route"]))
        routes.append((re.compile(pattern), [m.upper() for m in binding["methods"]], function.get_user_function()))
    return routes


class FunctionsServer:
    def __init__(self, functions: dict, key: str, port: int = 0):
        self.routes, self.key = _routes(functions), key
        self.requests: list[tuple[str, int]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                status, headers, body = server.dispatch("GET", self.path, dict(self.headers))
                server.requests.append((self.path, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FunctionsServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(raw_path)
        params = dict(parse_qsl(url.query))
        if params.get("code") != self.key and headers.get("x-functions-key") != self.key:
            return 401, {"Content-Type": "text/plain"}, b"function key required"
        path = url.path.removeprefix("/api/")
        for pattern, methods, function in self.routes:
            match = pattern.fullmatch(path)
            if match and method in methods:
                request = func.HttpRequest(method=method, url=self.base + raw_path, headers=headers, params=params,
                                           route_params=match.groupdict(), body=b"")
                response = function(request)
                content_type = response.mimetype + (f"; charset={response.charset}" if response.charset else "")
                return response.status_code, {"Content-Type": content_type, **dict(response.headers)}, \
                    response.get_body()
        return 404, {"Content-Type": "text/plain"}, b"no such route"


def apply_local_settings(path: Path) -> None:
    """The Functions host's local.settings.json `Values` as environment variables (set ones win)."""
    if not path.is_file():
        return
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values") or {}
    except (OSError, ValueError, AttributeError) as exc:
        sys.exit(f"{path}: not a local.settings.json with a \"Values\" object ({exc})")
    for name, value in values.items():
        os.environ.setdefault(str(name), str(value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="serve the Function App's HTTP routes on 127.0.0.1")
    parser.add_argument("--port", type=int, default=7071, help="default 7071, the Functions host's port")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
    apply_local_settings(Path("local.settings.json"))
    import function_app

    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    key = secrets.token_urlsafe(12)
    server = FunctionsServer(functions, key, port=args.port)
    print(f"Report pages: {server.base}/api/pages/index.html?code={key}  (Ctrl-C stops)", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
