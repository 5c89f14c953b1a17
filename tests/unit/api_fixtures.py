"""The API functions against moto: resources, injected wiring, and a REST proxy request."""

from __future__ import annotations

import json
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.endpoint
import pytest
from api import reader, writer
from kahula_core import spec
from kahula_core.reader import EventReader
from moto import mock_aws

from local.api_server import proxy_event
from tests.moto_resources import DOOR_RESERVED_SOURCES, REGION, Resources, provision
from tests.unit.conftest import lambda_context


@dataclass
class FakeFirehose:
    records: list[dict[str, Any]] = field(default_factory=list)

    def put_record(self, *, DeliveryStreamName: str, Record: dict[str, bytes]) -> None:
        self.records.append(json.loads(Record["Data"]))


@dataclass
class Api:
    resources: Resources
    archive: FakeFirehose

    def post(self, body: Any, **headers: str) -> tuple[int, dict[str, str], Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        event = proxy_event("POST", "/events", body=raw, headers=headers)
        return _answer(writer.lambda_handler(event, lambda_context()))

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], Any]:
        event = proxy_event("GET", path, headers=headers)
        return _answer(reader.lambda_handler(event, lambda_context()))


def _answer(response: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(values)
    body = response.get("body")
    return response["statusCode"], headers, json.loads(body) if body else None


def envelope(event_id: str = "order-1", **detail: Any) -> dict[str, Any]:
    return {
        "source": "orders.service",
        "detail-type": "OrderUpdatedEvent",
        "detail": {"metadata": {"event_id": event_id, "domain": "orders"}, **detail},
    }


@pytest.fixture(name="api")
def api_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # botocore's retry backoff is counted, not slept (as local/faults.py does).
    no_sleep = types.SimpleNamespace(sleep=lambda _s: None, time=time.time)
    monkeypatch.setattr(botocore.endpoint, "time", no_sleep)
    with mock_aws():
        resources = provision(lambda service: boto3.client(service, region_name=REGION))
        archive = FakeFirehose()
        writer.use_wiring(
            (
                resources.pipeline(**{spec.Env.RESERVED_SOURCES: DOOR_RESERVED_SOURCES}),
                writer.Archive(firehose=lambda: archive, stream_name="archive"),
            )
        )
        reader.use_reader(
            EventReader(
                dynamodb=lambda: resources.dynamodb,
                s3=lambda: resources.s3,
                table_name=resources.table,
            )
        )
        yield Api(resources, archive)
        writer.use_wiring(None)
        reader.use_reader(None)
