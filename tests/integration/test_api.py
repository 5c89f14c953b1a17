"""The HTTP API over real HTTP on 127.0.0.1: the real functions from the synthesized asset, over
the local pipeline's moto (``make api``). Every status, read-after-write for 1,000 writes,
concurrent POSTs of one id, throttling via injected DynamoDB faults, the README's curl lines;
and the aggregate store's routes: every status, a race of appends with one If-Match,
read-after-append, pagination, and the outbox publishing what an append committed."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest

from local.api_server import LocalApi, serve
from local.faults import FaultPlan

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30  # seconds, per HTTP request


def request(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            status, got, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, got, raw = exc.code, dict(exc.headers), exc.read()
    return status, got, json.loads(raw) if raw else None


def envelope(event_id: str, detail_type: str = "OrderCreatedEvent", **detail: Any) -> dict:
    return {
        "source": "orders.service",
        "detail-type": detail_type,
        "detail": {"metadata": {"event_id": event_id}, **detail},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalApi]]:
    with serve(tmp_path_factory.mktemp("api"), port=0) as running:
        yield running


@pytest.fixture
def base(server: tuple[str, LocalApi]) -> str:
    return server[0]


@pytest.fixture
def faults(server, monkeypatch):
    """Install a FaultPlan on the writer's own DynamoDB client, at botocore's before-send, as
    local/faults.py does; the SDK's backoff is counted, not slept."""
    _, api = server
    client = api.writer_module.wiring()[0].store._client()
    installed: list[FaultPlan] = []
    no_sleep = types.SimpleNamespace(sleep=lambda _s: None, time=time.time)
    monkeypatch.setattr(botocore.endpoint, "time", no_sleep)

    def install(plan: FaultPlan) -> FaultPlan:
        client.meta.events.register("before-send.dynamodb.PutItem", plan.on_put_item)
        installed.append(plan)
        return plan

    yield install
    for plan in installed:
        client.meta.events.unregister("before-send.dynamodb.PutItem", plan.on_put_item)


def test_created_then_replay_then_conflict(base):
    status, headers, body = request(f"{base}/events", "POST", envelope("it-1", total=1))
    assert status == 201 and headers["Location"] == "/events/it-1"
    assert body["outcome"] == "persisted"
    status, _, again = request(f"{base}/events", "POST", envelope("it-1", total=1))
    assert status == 200 and again["outcome"] == "duplicate"
    status, _, conflict = request(f"{base}/events", "POST", envelope("it-1", total=2))
    assert status == 409 and conflict["stored_payload_hash"] == body["payload_hash"]


def test_malformed_and_too_large_bodies(base):
    status, _, body = request(f"{base}/events", "POST", b"{nope")
    assert status == 400 and body["error"]["code"] == "malformed_event"
    status, _, body = request(f"{base}/events", "POST", envelope("huge", blob="x" * 1_100_000))
    assert status == 413 and body["error"]["code"] == "payload_too_large"


def test_read_404_200_and_304(base):
    status, _, body = request(f"{base}/events/absent")
    assert status == 404 and body["error"]["code"] == "not_found"
    _, _, stored = request(f"{base}/events", "POST", envelope("it-2", total=3))
    status, headers, body = request(f"{base}/events/it-2")
    assert status == 200 and body["detail"]["total"] == 3
    assert headers["ETag"] == f'"{stored["payload_hash"]}"'
    status, _, body = request(f"{base}/events/it-2", headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and body is None


def test_dynamodb_throttling_is_429_then_the_retry_is_stored(base, faults):
    plan = faults(FaultPlan(throttle=1.0))
    status, headers, body = request(f"{base}/events", "POST", envelope("it-throttled"))
    assert status == 429 and headers["Retry-After"] == "1"
    assert body["error"]["code"] == "throttled"
    assert plan.injected["dynamodb throttling (400)"] > 1  # the SDK retried first
    plan.throttle = 0.0  # the throttling ends: the client's retry succeeds
    status, _, _ = request(f"{base}/events", "POST", envelope("it-throttled"))
    assert status == 201


def test_dynamodb_server_errors_are_503(base, faults):
    faults(FaultPlan(server_error=1.0))
    status, headers, body = request(f"{base}/events", "POST", envelope("it-5xx"))
    assert status == 503 and headers["Retry-After"] == "1"
    assert body["error"]["code"] == "unavailable"


def test_an_unexpected_error_is_500_with_only_the_request_id(server, monkeypatch):
    base, api = server

    def explode(event, pipeline):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(api.writer_module, "persist_event", explode)
    status, _, body = request(f"{base}/events", "POST", envelope("it-500"))
    assert status == 500 and body["error"]["code"] == "internal"
    assert "leak" not in json.dumps(body) and body["error"]["request_id"]


def test_read_after_write_for_1000_sequential_writes(base):
    started = time.perf_counter()
    for i in range(1000):
        status, headers, posted = request(f"{base}/events", "POST", envelope(f"raw-{i}", n=i))
        assert status == 201, posted
        status, got_headers, got = request(base + headers["Location"])
        assert status == 200, f"write {i} not readable at once: {got}"
        assert got["detail"]["n"] == i and got_headers["ETag"] == f'"{posted["payload_hash"]}"'
    print(f"1,000 write+read pairs in {time.perf_counter() - started:.1f} s")


def test_concurrent_posts_of_one_id_create_it_exactly_once(base):
    barrier = threading.Barrier(16)

    def post(_: int) -> int:
        barrier.wait(timeout=TIMEOUT)
        return request(f"{base}/events", "POST", envelope("it-race", total=9))[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(post, range(16)))
    assert statuses == Counter({201: 1, 200: 15})


def test_a_stored_event_is_archived_and_its_follow_up_routed(server):
    base, api = server
    status, _, body = request(f"{base}/events", "POST", envelope("it-arch", "OrderUpdatedEvent"))
    assert status == 201 and len(body["follow_ups"]) == 1
    archived, _ = api.pipeline.archived_events()
    assert "it-arch" in {e["detail"]["metadata"].get("event_id") for e in archived}
    (queue,) = api.pipeline.follow_up_queues()["ValidatableEvent"]
    routed = [m["detail"]["follow_up_id"] for m in api.pipeline._drain_queue(queue)]
    assert routed == body["follow_ups"]
    # and the persister stored the follow-up when it crossed the bus, as for any event
    assert request(f"{base}/events/{routed[0]}")[0] == 200


def test_the_openapi_document_is_served(base):
    status, _, document = request(f"{base}/openapi.json")
    assert status == 200
    assert document == json.loads((ROOT / "docs" / "openapi.json").read_text())


def _readme_curl_lines(marker: str = "api-curl") -> list[tuple[str, int]]:
    text = (ROOT / "README.md").read_text()
    block = text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    lines = []
    for line in block.splitlines():
        match = re.match(r"(curl .*?)\s+# (\d{3})\b", line)
        if match:
            lines.append((match.group(1), int(match.group(2))))
    return lines


@pytest.mark.parametrize(("marker", "at_least"), [("api-curl", 5), ("aggregate-curl", 8)])
def test_the_readme_curl_examples_answer_as_documented(base, marker, at_least):
    lines = _readme_curl_lines(marker)
    assert len(lines) >= at_least
    for command, expected in lines:
        argv = shlex.split(command.replace("$BASE", base)) + [
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ]
        out = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        assert out.stdout.strip() == str(expected), f"{command}: {out.stdout} {out.stderr}"


def test_make_api_prints_the_url_and_stops_cleanly_on_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-m", "local.api_server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 180
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url, process.stderr.read() if process.stderr else ""
        assert request(f"{url}/events/absent")[0] == 404
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "stopped: API and moto shut down" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------ aggregates


def _stream(base: str, aggregate_id: str, query: str = "") -> str:
    return f"{base}/aggregates/{aggregate_id}/events{query}"


def _append_body(*ids: str, event_type: str = "CartItemAdded") -> dict[str, Any]:
    return {
        "aggregate_type": "Cart",
        "events": [{"event_type": event_type, "event_id": i, "data": {"sku": i}} for i in ids],
    }


def test_the_aggregate_routes_answer_every_status_over_http(base):
    url = _stream(base, "it-cart-1")
    create = {"If-None-Match": "*"}
    # 404: no events yet
    status, _, body = request(url)
    assert status == 404 and body["error"]["code"] == "not_found"
    # 201: created at version 1; the same request again (a redelivery): the same 201
    status, headers, created = request(url, "POST", _append_body("c1-a"), create)
    assert status == 201 and headers["ETag"] == '"1"' and created["version"] == 1
    status, headers, again = request(url, "POST", _append_body("c1-a"), create)
    assert status == 201 and headers["ETag"] == '"1"' and again["already_appended"] is True
    # 412: a stale If-Match names both versions; 428: no precondition at all
    request(url, "POST", _append_body("c1-b"), {"If-Match": '"1"'})
    status, headers, body = request(url, "POST", _append_body("c1-x"), {"If-Match": '"1"'})
    assert status == 412 and (body["expected_version"], body["actual_version"]) == (1, 2)
    assert headers["ETag"] == '"2"'
    status, _, body = request(url, "POST", _append_body("c1-y"))
    assert status == 428 and body["error"]["code"] == "precondition_required"
    # 400: a bad precondition, a bad body; 413: more events than one transaction holds
    status, _, body = request(url, "POST", _append_body("c1-z"), {"If-Match": 'W/"2"'})
    assert status == 400 and "weak tag" in body["error"]["message"]
    status, _, body = request(url, "POST", b"{nope", {"If-Match": '"2"'})
    assert status == 400 and body["error"]["code"] == "malformed_event"
    many = _append_body(*(f"c1-{i}" for i in range(100)))
    status, _, body = request(url, "POST", many, {"If-Match": '"2"'})
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    # 200: the stream, ETag = the version
    status, headers, body = request(url)
    assert status == 200 and headers["ETag"] == '"2"'
    assert [e["event_id"] for e in body["events"]] == ["c1-a", "c1-b"]
    status, _, body = request(url + "?limit=0")
    assert status == 400 and body["error"]["code"] == "malformed_request"


def test_concurrent_appends_with_one_if_match_exactly_one_wins(base):
    # GIVEN an aggregate at version 1 and 12 clients that all read it there
    url = _stream(base, "it-cart-race")
    request(url, "POST", _append_body("race-0"), {"If-None-Match": "*"})
    barrier = threading.Barrier(12)

    def append(i: int) -> int:
        barrier.wait(timeout=TIMEOUT)
        return request(url, "POST", _append_body(f"race-{i + 1}"), {"If-Match": '"1"'})[0]

    # WHEN they all append at once with If-Match "1"
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(append, range(12)))
    # THEN exactly one wins, every other gets 412, and the stream holds exactly the winner
    assert statuses == Counter({201: 1, 412: 11})
    _, headers, body = request(url)
    assert headers["ETag"] == '"2"' and [e["sequence_number"] for e in body["events"]] == [1, 2]


def test_every_append_is_readable_at_once_and_pages_cover_the_stream(base):
    # GIVEN 25 appends, each made with the ETag the previous read returned
    url = _stream(base, "it-cart-pages")
    status, headers, _ = request(url, "POST", _append_body("p-1"), {"If-None-Match": "*"})
    for i in range(2, 26):
        # read-after-append: the append just acknowledged is in the stream, ETag included
        status, got, body = request(url + f"?from_version={i - 2}")
        assert status == 200 and got["ETag"] == headers["ETag"] == f'"{i - 1}"'
        assert body["events"][-1]["event_id"] == f"p-{i - 1}"
        status, headers, _ = request(url, "POST", _append_body(f"p-{i}"), {"If-Match": got["ETag"]})
        assert status == 201
    # WHEN read 10 at a time, following `next`
    seen, pages, following = [], 0, "?limit=10"
    while following is not None:
        status, _, body = request(
            url + following if following.startswith("?") else base + following
        )
        assert status == 200
        seen += [e["event_id"] for e in body["events"]]
        following, pages = body["next"], pages + 1
    # THEN every event once, in order, in 3 pages
    assert seen == [f"p-{i}" for i in range(1, 26)] and pages == 3


def test_a_committed_append_reaches_the_bus_and_is_persisted(base):
    # GIVEN an append over HTTP WHEN it is committed THEN the outbox published it and the
    # persister stored it under its event id, like any bus event
    url = _stream(base, "it-cart-outbox")
    status, _, _ = request(url, "POST", _append_body("outbox-1"), {"If-None-Match": "*"})
    assert status == 201
    status, _, stored = request(f"{base}/events/outbox-1")
    assert status == 200 and stored["event_name"] == "CartItemAdded"


@pytest.fixture
def append_faults(server, monkeypatch):
    """A FaultPlan on the aggregate writer's own DynamoDB client (TransactWriteItems)."""
    _, api = server
    assert api.aggregate_writer is not None, "dev's template has the aggregate routes"
    client = api.aggregate_writer.modules["api.aggregates"].aggregate_store().dynamodb
    no_sleep = types.SimpleNamespace(sleep=lambda _s: None, time=time.time)
    monkeypatch.setattr(botocore.endpoint, "time", no_sleep)
    installed: list[FaultPlan] = []

    def install(plan: FaultPlan) -> FaultPlan:
        client.meta.events.register("before-send.dynamodb.TransactWriteItems", plan.on_put_item)
        installed.append(plan)
        return plan

    yield install
    for plan in installed:
        client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", plan.on_put_item)


def test_a_throttled_append_is_429_and_its_retry_is_appended(base, append_faults):
    plan = append_faults(FaultPlan(throttle=1.0))
    url = _stream(base, "it-cart-throttled")
    status, headers, body = request(url, "POST", _append_body("t-1"), {"If-None-Match": "*"})
    assert status == 429 and headers["Retry-After"] == "1"
    assert body["error"]["code"] == "throttled"
    plan.throttle = 0.0
    status, _, _ = request(url, "POST", _append_body("t-1"), {"If-None-Match": "*"})
    assert status == 201


def test_an_append_dynamodb_fails_is_503(base, append_faults):
    append_faults(FaultPlan(server_error=1.0))
    url = _stream(base, "it-cart-5xx")
    status, headers, body = request(url, "POST", _append_body("u-1"), {"If-None-Match": "*"})
    assert status == 503 and headers["Retry-After"] == "1"
    assert body["error"]["code"] == "unavailable"
