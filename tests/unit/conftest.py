"""The persister's Lambda entry against moto, with the shared resources (tests/moto_resources)
and the environment the construct gives the function."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

# Powertools reads these when the handler module is imported, as Lambda sets them before import.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "event-persister")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Kahula/Test")

import boto3
import pytest
from moto import mock_aws
from persister import handler

from tests.moto_resources import REGION, Resources, provision


def lambda_context() -> Any:
    return SimpleNamespace(
        function_name="kahula-persister-test",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:kahula-persister-test",
        aws_request_id="00000000-0000-4000-8000-000000000000",
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "event-persister",
        "POWERTOOLS_METRICS_NAMESPACE": "Kahula/Test",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        resources = provision(lambda service: boto3.client(service, region_name=REGION))
        for key, value in resources.environment().items():
            monkeypatch.setenv(key, value)
        handler.use_pipeline(None)
        yield resources
        handler.use_pipeline(None)


@pytest.fixture
def invoke(aws: Resources):
    """Call the real Lambda entry point, as the async invoke from the bus rule does."""

    def call(event: Any) -> dict[str, Any]:
        return handler.lambda_handler(event, lambda_context())

    return call
