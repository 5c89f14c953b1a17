"""``make api``: the HTTP API on 127.0.0.1, over the local pipeline's moto.

Each HTTP request becomes the API Gateway REST proxy event the deployed API would send, and
goes to the real function (writer or reader, and the aggregate writer or reader where the
template has the aggregate store's routes) loaded from the synthesized asset, exactly as
``local/runtime.py`` runs the persister. After a committed append the outbox pipe is pumped,
so the appended events are persisted and archived like bus events. What the writer puts on
the bus (follow-ups) is routed by the local pipeline after each request; what it archives
lands in the local archive bucket.
``GET /openapi.json`` serves the shipped document (docs/openapi.json).

    python -m local.api_server [--port 0]      # prints the base URL; Ctrl-C stops it and moto

Not simulated: authorization (IAM/JWT), API Gateway's request validation and throttling, and
its 10 MB payload limit (the writer's own 1 MB limit applies).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .pipeline import LocalPipeline
from .runtime import LocalLambda

OPENAPI = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
#: The API's resources with a path parameter: (pattern of the path, resource, parameter name).
_PARAMETERIZED = (
    (re.compile(r"/events/([^/]+)"), "/events/{id}", "id"),
    (
        re.compile(r"/aggregates/([^/]+)/events"),
        "/aggregates/{aggregate_id}/events",
        "aggregate_id",
    ),
)


def proxy_event(
    method: str, raw_path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The API Gateway REST (v1) proxy event for one request."""
    split = urlsplit(raw_path)
    path = split.path
    resource, params = path, None
    for pattern, template, name in _PARAMETERIZED:
        found = pattern.fullmatch(path)
        if found:
            resource, params = template, {name: found.group(1)}
            break
    query = parse_qs(split.query, keep_blank_values=True)
    request_id = str(uuid.uuid4())
    headers = dict(headers or {})
    text = body.decode("utf-8", "surrogateescape") if body is not None else None
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": request_id,
            "accountId": "123456789012",
            "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": False,
    }


def _load(function: LocalLambda, build: str) -> tuple[Any, ModuleType]:
    """Import the function from its asset (as local/runtime.py does) and build its clients
    from its own template environment now, before another function's load changes os.environ.
    Returns the handler and its module (tests inject faults through the module's clients)."""
    handler = function._load()
    module = function.module
    getattr(module, build)(function.environment)
    return handler, module


class LocalApi:
    """The functions of the template's EventApi, and the pipeline they run over.

    ``writer`` and ``reader`` always; ``aggregate_writer`` and ``aggregate_reader`` (None
    otherwise) when the template has the aggregate store's routes (the API and the aggregate
    store both configured).
    """

    def __init__(self, pipeline: LocalPipeline) -> None:
        self.pipeline = pipeline
        functions = pipeline.bridge.lambdas
        by_handler = {f.handler_path: f for f in functions.values()}
        self.writer: LocalLambda = by_handler["api.writer.lambda_handler"]
        self.reader: LocalLambda = by_handler["api.reader.lambda_handler"]
        self.aggregate_writer: LocalLambda | None = by_handler.get(
            "api.aggregate_writer.lambda_handler"
        )
        self.aggregate_reader: LocalLambda | None = by_handler.get(
            "api.aggregate_reader.lambda_handler"
        )
        # One invocation at a time, as in one Lambda container (Powertools' resolver keeps
        # the current request on the module); the HTTP server itself takes requests in parallel.
        self._lock = threading.Lock()
        self._writer, self.writer_module = _load(self.writer, "wiring")
        self._reader, self.reader_module = _load(self.reader, "event_reader")
        # (method, path pattern) -> the function and its handler
        self._routes: list[tuple[str, re.Pattern[str], LocalLambda, Any]] = [
            ("POST", re.compile(r"/events"), self.writer, self._writer),
            ("GET", re.compile(r"/events/[^/]+"), self.reader, self._reader),
        ]
        for method, function in (
            ("POST", self.aggregate_writer),
            ("GET", self.aggregate_reader),
        ):
            if function is not None:
                handler, _ = _load(function, "aggregate_store")
                route = re.compile(r"/aggregates/[^/]+/events")
                self._routes.append((method, route, function, handler))

    def handle(
        self, method: str, raw_path: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, Any]:
        path = urlsplit(raw_path).path
        found = next(
            ((f, h) for m, p, f, h in self._routes if m == method and p.fullmatch(path)), None
        )
        # No route: the reader answers (its resolver's 404 in the one error shape).
        function, handler = found or (self.reader, self._reader)
        event = proxy_event(method, raw_path, body=body, headers=headers)
        with self._lock, contextlib.redirect_stdout(function._log):
            response: dict[str, Any] = handler(event, function._context())
            if function is self.writer and '"follow_ups":["' in (response.get("body") or ""):
                self.pipeline.run()  # route the follow-ups the writer put on the bus
            elif function is self.aggregate_writer and response.get("statusCode") == 201:
                self.pipeline.run()  # the outbox: stream -> pipe -> bus -> persister, archive
        return response


def _handler_class(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.command == "GET" and urlsplit(self.path).path == "/openapi.json":
                self._send(200, {"Content-Type": "application/json"}, OPENAPI.read_bytes())
                return
            result = api.handle(self.command, self.path, body, dict(self.headers.items()))
            headers = {k: v for k, v in (result.get("headers") or {}).items()}
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers[name] = ", ".join(values)
            self._send(int(result["statusCode"]), headers, (result.get("body") or "").encode())

        do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # concurrent clients queue instead of being reset (default 5)


@contextlib.contextmanager
def serve(workdir: Path, *, port: int = 0, env: str = "dev") -> Iterator[tuple[str, LocalApi]]:
    """Start moto, the pipeline and the HTTP server; yield (base URL, api); stop all of it."""
    # The moto server: the API's tests inject faults at botocore's before-send, which an
    # in-process moto would answer too (the call carried out despite the injected failure).
    with LocalPipeline.start(workdir, env=env, server=True) as pipeline:
        api = LocalApi(pipeline)
        server = _Server(("127.0.0.1", port), _handler_class(api))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", api
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    parser.add_argument("--env", default="dev")
    args = parser.parse_args(argv)
    # A request whose handler records no metric is normal here (a GET, a refused body):
    # Powertools warns on each; the test suite filters the same warning.
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="kahula-api-") as tmp:
        print("synthesizing and starting moto ...", file=sys.stderr, flush=True)
        with serve(Path(tmp), port=args.port, env=args.env) as (url, api):
            routes = "POST /events, GET /events/{id}, GET /openapi.json"
            if api.aggregate_writer is not None:
                routes += ", POST and GET /aggregates/{id}/events"
            print(f"Kahula API at {url} ({routes})")
            print("Ctrl-C to stop", flush=True)
            stop.wait()
        print("stopped: API and moto shut down", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
