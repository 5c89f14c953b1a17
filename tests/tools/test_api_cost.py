"""make cost's HTTP API lines: read from the template, priced per request."""

from __future__ import annotations

import pytest

from bench.api_cost import API_GATEWAY_REST_PER_MILLION, per_million_requests


def _function(handler: str, memory: int = 256) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": handler, "MemorySize": memory, "Architectures": ["arm64"]},
    }


MEASURED = {"event_bytes": 1024, "handler_cpu_ms": 0.25, "log_bytes": 289, "item_bytes": 841}


def test_a_template_without_the_api_has_no_api_lines():
    template = {"Resources": {"P": _function("persister.handler.lambda_handler")}}
    assert per_million_requests(template, **MEASURED) is None


def test_each_route_pays_api_gateway_lambda_and_its_one_table_call():
    template = {
        "Resources": {
            "W": _function("api.writer.lambda_handler"),
            "R": _function("api.reader.lambda_handler"),
        }
    }
    routes = per_million_requests(template, **MEASURED)
    assert routes is not None
    writer, reader = routes["POST /events"], routes["GET /events/{id}"]
    assert writer["API Gateway requests"] == reader["API Gateway requests"]
    assert writer["API Gateway requests"] == API_GATEWAY_REST_PER_MILLION
    assert writer["DynamoDB writes"] == pytest.approx(0.625)  # an 841-byte item: one unit
    assert reader["DynamoDB reads (strongly consistent)"] == pytest.approx(0.125)
    assert writer["Firehose (archive)"] > 0 and "Firehose (archive)" not in reader
