"""The HTTP API's cost per million requests, read from a synthesized template (``make cost``).

Prices are us-east-1, each with its source (docs/limits-and-prices.md); the handler's CPU, log
bytes and item size come from the persister's measurement in the same run (the writer runs the
same ``persist_event``); network times are stated assumptions, as in bench/cost.py.
"""

from __future__ import annotations

import math
from typing import Any

from .cost import (
    CLOUDWATCH_LOGS_PER_GB,
    DYNAMODB_WRITE_UNIT_BYTES,
    DYNAMODB_WRITE_UNITS_PER_MILLION,
    FIREHOSE_PER_GB,
    FIREHOSE_RECORD_ROUNDING_BYTES,
    GIB,
    LAMBDA_FULL_VCPU_MB,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUESTS_PER_MILLION,
    LAMBDA_XRAY_SAMPLING,
    MILLION,
    PUT_ITEM_MS,
    XRAY_TRACES_PER_MILLION,
)

#: REST API requests, first 333 million a month (Amazon API Gateway pricing, us-east-1).
API_GATEWAY_REST_PER_MILLION = 3.50
#: On-demand read request units; a strongly consistent read of up to 4 KB is one unit
#: (DynamoDB pricing, after the Nov-2024 cut).
DYNAMODB_READ_UNITS_PER_MILLION = 0.125
DYNAMODB_READ_UNIT_BYTES = 4 * 1024
#: Stated: network time of GetItem and of Firehose PutRecord (not measured here).
GET_ITEM_MS = 4.0
PUT_RECORD_MS = 10.0
#: One JSON access-log line per request (the stage's format, measured on a sample line).
ACCESS_LOG_BYTES = 330
#: Powertools routing on top of the persister's handler CPU (stated; the resolver's own work).
ROUTING_CPU_MS = 0.3


def _api_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["Handler"].split(".")[1]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler", "").startswith("api.")
    }


def _duration(fn: dict[str, Any], cpu_ms: float, network_ms: float) -> tuple[int, float]:
    memory = int(fn["MemorySize"])
    billed = math.ceil(cpu_ms * max(1.0, LAMBDA_FULL_VCPU_MB / memory) + network_ms)
    arch = fn.get("Architectures", ["x86_64"])[0]
    return billed, MILLION * billed / 1000 * memory / 1024 * LAMBDA_GB_SECOND[arch]


def per_million_requests(
    template: dict[str, Any],
    *,
    event_bytes: int,
    handler_cpu_ms: float,
    log_bytes: float,
    item_bytes: int,
    archived: bool = True,
) -> dict[str, dict[str, float]] | None:
    """{"POST /events": {line: $}, "GET /events/{id}": {...}}; None without the API."""
    functions = _api_functions(template)
    if not functions:
        return None
    logs = MILLION * ACCESS_LOG_BYTES / GIB * CLOUDWATCH_LOGS_PER_GB
    xray = LAMBDA_XRAY_SAMPLING * XRAY_TRACES_PER_MILLION
    w_ms, w_cost = _duration(
        functions["writer"],
        handler_cpu_ms + ROUTING_CPU_MS,
        PUT_ITEM_MS + (PUT_RECORD_MS if archived else 0),
    )
    firehose = (
        math.ceil(event_bytes / FIREHOSE_RECORD_ROUNDING_BYTES)
        * FIREHOSE_RECORD_ROUNDING_BYTES
        * MILLION
        / GIB
        * FIREHOSE_PER_GB
    )
    writer = {
        "API Gateway requests": API_GATEWAY_REST_PER_MILLION,
        "Lambda requests": LAMBDA_REQUESTS_PER_MILLION,
        f"Lambda duration ({w_ms} ms billed)": w_cost,
        "DynamoDB writes": math.ceil(item_bytes / DYNAMODB_WRITE_UNIT_BYTES)
        * DYNAMODB_WRITE_UNITS_PER_MILLION,
        "Firehose (archive)": firehose if archived else 0.0,
        "X-Ray traces": xray,
        "CloudWatch Logs (access + EMF)": logs + MILLION * log_bytes / GIB * CLOUDWATCH_LOGS_PER_GB,
    }
    r_ms, r_cost = _duration(functions["reader"], ROUTING_CPU_MS + 0.2, GET_ITEM_MS)
    reader = {
        "API Gateway requests": API_GATEWAY_REST_PER_MILLION,
        "Lambda requests": LAMBDA_REQUESTS_PER_MILLION,
        f"Lambda duration ({r_ms} ms billed)": r_cost,
        "DynamoDB reads (strongly consistent)": math.ceil(item_bytes / DYNAMODB_READ_UNIT_BYTES)
        * DYNAMODB_READ_UNITS_PER_MILLION,
        "X-Ray traces": xray,
        "CloudWatch Logs (access)": logs,
    }
    return {"POST /events": writer, "GET /events/{id}": reader}


def print_api(templates: dict[str, dict[str, Any]], **measured: Any) -> None:
    for env, template in templates.items():
        routes = per_million_requests(template, **measured)
        if routes is None:
            continue
        print(f"\nHTTP API ({env}), per million requests:\n")
        print("| line | " + " | ".join(routes) + " |")
        print("|---" * (len(routes) + 1) + "|")
        names = list(dict.fromkeys(k for lines in routes.values() for k in lines))
        for name in names:
            cells = [f"${lines[name]:.3f}" if name in lines else "" for lines in routes.values()]
            print(f"| {name} | " + " | ".join(cells) + " |")
        totals = [f"**${sum(lines.values()):.2f}**" for lines in routes.values()]
        print("| **total** | " + " | ".join(totals) + " |")
