"""`make capacity`: the sustained event rate at which each AWS quota binds, per environment.

For each environment's synthesized template (function memory, reserved concurrency, the rules
on the bus and their targets, the table's indexes and write limit, the archive stream), and the
region the environment deploys to, it computes the load one source event puts on every quota
(requests, invocations, concurrency-seconds, write units, records, bytes), so the rate at which
each quota binds is ``limit / load``. The lowest sustained one binds first. Ramp limits (how
fast Lambda and a new on-demand table grow) are shown beside them but bind only while traffic
grows, so they never count as "first". A parametric table covers the front doors to come (SQS,
Kinesis).

Every quota below is a named constant with its source and the date it was checked; a figure
that could not be read on an AWS page says ``unverified``. docs/capacity.md lists the same.

    python -m bench.capacity [--target 1000] [--follow-up-share 0.0] [--event-bytes 1024]
                             [--entries-per-put 1] [--region us-east-1] [--cdk-out DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.cost import (
    DYNAMODB_WRITE_UNIT_BYTES,
    FOLLOW_UP_EVENT_BYTES,
    FOLLOW_UP_ITEM_BYTES,
    LAMBDA_FULL_VCPU_MB,
    PUT_EVENTS_MS,
    PUT_ITEM_MS,
    Function,
    events_table,
    read_template,
)

CHECKED = "2026-11-22"  # the date every quota below was read
OTHER_REGIONS = "*"  # key of the figure AWS gives for "each of the other supported Regions"
MIB = 1024 * 1024


class CapacityError(ValueError):
    """A template or an argument the capacity model cannot work with, and why."""


@dataclass(frozen=True)
class Source:
    """Where a quota's figure comes from."""

    title: str
    url: str
    checked: str = CHECKED


@dataclass(frozen=True)
class Quota:
    """A default AWS quota: its value per region (``*``: every other region) and its source.

    ``unverified`` names the region keys whose figure could not be read on an AWS page.
    """

    name: str
    values: Mapping[str, float]
    unit: str
    source: Source
    adjustable: bool = True
    unverified: frozenset[str] = frozenset()

    def in_region(self, region: str) -> tuple[float, bool]:
        """(value, verified) in ``region``; a region not listed gets the "other" figure."""
        key = region if region in self.values else OTHER_REGIONS
        if key not in self.values:
            raise CapacityError(f"{self.name}: no figure for region {region!r}")
        return self.values[key], key not in self.unverified


def everywhere(value: float) -> dict[str, float]:
    return {OTHER_REGIONS: value}


# ----------------------------------------------------------------------------- sources
EVENTBRIDGE_QUOTAS = Source(
    "Amazon EventBridge quotas",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html",
)
LAMBDA_QUOTAS = Source(
    "Lambda quotas", "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
)
LAMBDA_SCALING = Source(
    "Lambda scaling behavior", "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"
)
LAMBDA_CONCURRENCY = Source(
    "Understanding Lambda function scaling",
    "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html",
)
DYNAMODB_QUOTAS = Source(
    "Quotas in Amazon DynamoDB",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html",
)
DYNAMODB_WARM = Source(
    "Pre-warming a table for on-demand capacity mode",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html",
)
DYNAMODB_PARTITIONS = Source(
    "Understanding DynamoDB warm throughput in different scenarios",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
)
FIREHOSE_QUOTAS = Source(
    "Amazon Data Firehose Quota", "https://docs.aws.amazon.com/firehose/latest/dev/limits.html"
)
SQS_MESSAGE_QUOTAS = Source(
    "Amazon SQS message quotas",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
)
SQS_FIFO_THROTTLING = Source(
    "Troubleshoot FIFO throttling issues in Amazon SQS",
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-fifo-throttling-issues.html",
)
KINESIS_QUOTAS = Source(
    "Quotas and limits (Amazon Kinesis Data Streams)",
    "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html",
)

# ----------------------------------------------------------------------------- quotas
# EventBridge, Custom Event Bus - Classic (the rules-and-targets bus this app deploys).
PUT_EVENTS_PER_SECOND = Quota(
    "EventBridge PutEvents requests/s (L-9B653E91)",
    {
        "us-east-1": 10_000, "us-east-2": 2_400, "us-west-1": 1_200, "us-west-2": 10_000,
        "ap-east-1": 600, "ap-northeast-1": 1_200, "ap-northeast-2": 600, "ap-south-1": 600,
        "ap-southeast-1": 1_200, "ap-southeast-2": 1_200, "ca-central-1": 600,
        "eu-central-1": 2_400, "eu-north-1": 600, "eu-south-2": 2_400, "eu-west-1": 10_000,
        "eu-west-2": 1_200, "eu-west-3": 600, "sa-east-1": 600, OTHER_REGIONS: 400,
    },
    "requests/s",
    EVENTBRIDGE_QUOTAS,
)  # fmt: skip
INVOCATIONS_PER_SECOND = Quota(
    "EventBridge invocations/s (L-5540C5E3)",
    {
        "us-east-1": 18_750, "us-east-2": 4_500, "us-west-1": 2_250, "us-west-2": 18_750,
        "ap-east-1": 1_100, "ap-northeast-1": 2_250, "ap-northeast-2": 1_100,
        "ap-south-1": 1_100, "ap-southeast-1": 2_250, "ap-southeast-2": 2_250,
        "ca-central-1": 1_100, "eu-central-1": 4_500, "eu-north-1": 1_100,
        "eu-south-2": 4_500, "eu-west-1": 18_750, "eu-west-2": 2_250, "eu-west-3": 1_100,
        "sa-east-1": 1_100, OTHER_REGIONS: 750,
    },
    "invocations/s",
    EVENTBRIDGE_QUOTAS,
)  # fmt: skip
# Lambda. New accounts start lower and AWS raises them with use (Lambda quotas page).
LAMBDA_CONCURRENT_EXECUTIONS = Quota(
    "Lambda concurrent executions (L-B99A9384)", everywhere(1_000), "concurrency", LAMBDA_QUOTAS
)
LAMBDA_SCALING_PER_10_SECONDS = Quota(
    "Lambda scaling rate per function",
    everywhere(1_000),
    "environments per 10 s",
    LAMBDA_SCALING,
    adjustable=False,
)
# Requests per second are capped at 10 x the concurrency: the Lambda guide as quoted by
# third parties; not read first-hand on an AWS page here, so unverified.
LAMBDA_REQUESTS_PER_CONCURRENCY = Quota(
    "Lambda requests/s per unit of concurrency",
    everywhere(10),
    "requests/s",
    LAMBDA_CONCURRENCY,
    adjustable=False,
    unverified=frozenset({OTHER_REGIONS}),
)
# DynamoDB on demand. Whether an on-demand GSI draws on its table's 40,000 or has its own is
# not spelled out for on-demand (for provisioned the sum counts); the model sums them.
DYNAMODB_TABLE_WRITE_UNITS = Quota(
    "DynamoDB table write units/s (on demand)", everywhere(40_000), "WRU/s", DYNAMODB_QUOTAS
)
DYNAMODB_PARTITION_WRITE_UNITS = Quota(
    "DynamoDB write units/s per partition",
    everywhere(1_000),
    "WRU/s",
    DYNAMODB_PARTITIONS,
    adjustable=False,
)
DYNAMODB_NEW_TABLE_WRITE_UNITS = Quota(
    "DynamoDB new on-demand table, instantly (warm throughput)",
    everywhere(4_000),
    "WRU/s",
    DYNAMODB_WARM,
)
# Beyond the warm throughput, on demand absorbs up to twice the previous peak; more than that
# within 30 minutes may throttle (same page).
DYNAMODB_PEAK_MULTIPLE_PER_30_MINUTES = 2
# Firehose Direct PUT, per stream, PutRecord and PutRecordBatch combined. The three scale
# together on request, and a throttled Direct PUT stream raises its own limit over time.
_FIREHOSE_BIG = ("us-east-1", "us-west-2", "eu-west-1")
FIREHOSE_RECORDS_PER_SECOND = Quota(
    "Firehose Direct PUT records/s",
    {**dict.fromkeys(_FIREHOSE_BIG, 500_000), OTHER_REGIONS: 100_000},
    "records/s",
    FIREHOSE_QUOTAS,
)
FIREHOSE_REQUESTS_PER_SECOND = Quota(
    "Firehose Direct PUT requests/s",
    {**dict.fromkeys(_FIREHOSE_BIG, 2_000), OTHER_REGIONS: 1_000},
    "requests/s",
    FIREHOSE_QUOTAS,
)
FIREHOSE_BYTES_PER_SECOND = Quota(
    "Firehose Direct PUT bytes/s",
    {**dict.fromkeys(_FIREHOSE_BIG, 5 * MIB), OTHER_REGIONS: 1 * MIB},
    "bytes/s",
    FIREHOSE_QUOTAS,
)
# Front doors (not built yet).
SQS_FIFO_PER_ACTION = Quota(
    "SQS FIFO transactions/s per API action", everywhere(300), "requests/s", SQS_FIFO_THROTTLING
)
SQS_MAX_BATCH = 10  # messages per batch call (SQS message quotas)
SQS_FIFO_HIGH_THROUGHPUT_PER_ACTION = Quota(
    "SQS FIFO high-throughput transactions/s per API action (non-batched)",
    {
        **dict.fromkeys(_FIREHOSE_BIG, 70_000),
        "us-east-2": 19_000,
        "eu-central-1": 19_000,
        OTHER_REGIONS: 2_400,
    },
    "requests/s",
    SQS_MESSAGE_QUOTAS,
    unverified=frozenset({OTHER_REGIONS}),  # 2,400 only seen in third-party copies
)
KINESIS_SHARD_RECORDS = Quota(
    "Kinesis records/s per shard (write)", everywhere(1_000), "records/s", KINESIS_QUOTAS, False
)
KINESIS_SHARD_BYTES = Quota(
    "Kinesis bytes/s per shard (write)", everywhere(1 * MIB), "bytes/s", KINESIS_QUOTAS, False
)
KINESIS_ON_DEMAND_DEFAULT_BYTES = Quota(
    "Kinesis on-demand stream write, new stream", everywhere(4 * MIB), "bytes/s", KINESIS_QUOTAS
)
KINESIS_ON_DEMAND_MAX_BYTES = Quota(
    "Kinesis on-demand stream write, maximum",
    {**dict.fromkeys(_FIREHOSE_BIG, 10 * 1024 * MIB), OTHER_REGIONS: 200 * MIB},
    "bytes/s",
    KINESIS_QUOTAS,
)

QUOTAS = (
    PUT_EVENTS_PER_SECOND,
    INVOCATIONS_PER_SECOND,
    LAMBDA_CONCURRENT_EXECUTIONS,
    LAMBDA_SCALING_PER_10_SECONDS,
    LAMBDA_REQUESTS_PER_CONCURRENCY,
    DYNAMODB_TABLE_WRITE_UNITS,
    DYNAMODB_PARTITION_WRITE_UNITS,
    DYNAMODB_NEW_TABLE_WRITE_UNITS,
    FIREHOSE_RECORDS_PER_SECOND,
    FIREHOSE_REQUESTS_PER_SECOND,
    FIREHOSE_BYTES_PER_SECOND,
    SQS_FIFO_PER_ACTION,
    SQS_FIFO_HIGH_THROUGHPUT_PER_ACTION,
    KINESIS_SHARD_RECORDS,
    KINESIS_SHARD_BYTES,
    KINESIS_ON_DEMAND_DEFAULT_BYTES,
    KINESIS_ON_DEMAND_MAX_BYTES,
)

# ----------------------------------------------------------------------------- assumptions
#: The rate the headroom column compares against (events/s; --target).
TARGET_EVENTS_PER_SECOND = 1_000.0
#: Handler CPU per 1 KB event at a full vCPU: README "Performance and cost", 253.9 µs,
#: measured 2026-11-21 by `make bench`. Scaled by memory like bench/cost.py does; the network
#: time of PutItem and PutEvents comes from bench/cost.py's stated figures.
HANDLER_CPU_MS = 0.254
#: Entries per producer PutEvents call (--entries-per-put): 1 is the worst case; up to 10.
ENTRIES_PER_PUT = 1
#: How a classic bus rule delivers to Firehose: one record per request is assumed. Unverified:
#: AWS documents PutRecordBatch (up to 500) only for the new Custom Event Bus.
EVENTBRIDGE_RECORDS_PER_FIREHOSE_REQUEST = 1
#: Share of all events that carry the hottest saga id (--hot-saga-share), and that carry the
#: most common event name (--hot-event-name-share): assumptions about the traffic, not facts.
HOT_SAGA_SHARE = 0.01
HOT_EVENT_NAME_SHARE = 0.25
#: Stored item of a 1 KB event when it is not measured (README: an 841-byte item).
ITEM_BYTES_1KB = 841

CLI_DEFAULT_REGION = "us-east-1"  # what the CDK CLI uses when nothing names a region


# ----------------------------------------------------------------------------- the template
@dataclass(frozen=True)
class Deployment:
    """What one environment's template says about its capacity."""

    function: Function
    reserved_concurrency: int | None
    every_event_targets: int  # targets of rules that match every event on the bus
    follow_up_targets: int  # targets a follow-up event reaches besides those
    archive_stream: bool  # an every-event rule delivers to a Direct PUT Firehose stream
    table_max_write_units: int | None  # OnDemandThroughput.MaxWriteRequestUnits


def _matches_every_event(pattern: Any) -> bool:
    """Every event, or every event but a few platform sources (the archive leaves out replay
    wrappers, which producers never send)."""
    if pattern == {"source": [{"prefix": ""}]}:
        return True
    return (
        isinstance(pattern, dict)
        and list(pattern) == ["source"]
        and len(pattern["source"]) == 1
        and isinstance(pattern["source"][0], dict)
        and list(pattern["source"][0]) == ["anything-but"]
    )


def _target_logical_id(target: Mapping[str, Any]) -> str | None:
    """The logical id a rule target's Arn points at (Fn::GetAtt or Ref), if any."""
    arn = target.get("Arn")
    if isinstance(arn, Mapping):
        if isinstance(arn.get("Fn::GetAtt"), list) and arn["Fn::GetAtt"]:
            return str(arn["Fn::GetAtt"][0])
        if isinstance(arn.get("Ref"), str):
            return str(arn["Ref"])
    return None


def read_deployment(template: Mapping[str, Any]) -> Deployment:
    """The capacity-relevant facts of a synthesized environment template."""
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        raise CapacityError("template has no Resources")
    try:
        function = read_template(dict(template))
    except (ValueError, KeyError) as error:
        raise CapacityError(
            f"template must hold exactly one persister function and one table: {error}"
        ) from error
    (fn,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler", "").startswith("persister.")
    ]
    table = events_table(dict(resources))
    if table.get("BillingMode") != "PAY_PER_REQUEST":
        raise CapacityError("the model covers on-demand tables only (BillingMode PAY_PER_REQUEST)")
    streams = {
        logical_id
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::KinesisFirehose::DeliveryStream"
        and r["Properties"].get("DeliveryStreamType", "DirectPut") == "DirectPut"
    }
    every, follow_up, archived = 0, 0, False
    for rule in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"):
        targets = rule.get("Targets", [])
        if _matches_every_event(rule.get("EventPattern")):
            every += len(targets)
            archived = archived or any(_target_logical_id(t) in streams for t in targets)
        elif rule.get("EventPattern", {}).get("detail-type"):
            follow_up = max(follow_up, len(targets))  # a follow-up matches its own type's rule
    reserved = fn.get("ReservedConcurrentExecutions")
    max_writes = table.get("OnDemandThroughput", {}).get("MaxWriteRequestUnits")
    return Deployment(
        function=function,
        reserved_concurrency=None if reserved is None else int(reserved),
        every_event_targets=every,
        follow_up_targets=follow_up,
        archive_stream=archived,
        table_max_write_units=None if max_writes in (None, -1) else int(max_writes),
    )


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Traffic:
    """What the traffic looks like: each field a stated assumption with a command-line flag."""

    target: float = TARGET_EVENTS_PER_SECOND
    event_bytes: int = 1024
    item_bytes: int = ITEM_BYTES_1KB
    follow_up_share: float = 0.0
    saga_share: float = 1.0
    entries_per_put: int = ENTRIES_PER_PUT
    handler_cpu_ms: float = HANDLER_CPU_MS
    hot_saga_share: float = HOT_SAGA_SHARE
    hot_event_name_share: float = HOT_EVENT_NAME_SHARE

    def __post_init__(self) -> None:
        problems = []
        if self.target <= 0:
            problems.append("target must be above 0 events/s")
        if self.event_bytes < 1 or self.item_bytes < 1:
            problems.append("event and item sizes must be at least 1 byte")
        for name in ("follow_up_share", "saga_share", "hot_saga_share", "hot_event_name_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if not 1 <= self.entries_per_put <= 10:
            problems.append("entries_per_put must be 1-10 (PutEvents takes 1 to 10 entries)")
        if self.handler_cpu_ms < 0:
            problems.append("handler_cpu_ms must not be negative")
        if problems:
            raise CapacityError("; ".join(problems))


@dataclass(frozen=True)
class Row:
    """One quota: its limit, the load one source event puts on it, and the rate that binds."""

    quota: str
    limit: float
    unit: str
    per_event: float  # load of one source event, in the quota's unit (per second)
    kind: str  # "sustained" (counts for the binding quota) or "ramp" (while traffic grows)
    verified: bool
    source: str
    action: str
    binds_at: float | None = field(default=None)  # source events/s; None: never binds

    def __post_init__(self) -> None:
        if self.binds_at is None and self.per_event > 0:
            object.__setattr__(self, "binds_at", self.limit / self.per_event)


def _write_units(size: int) -> int:
    return math.ceil(size / DYNAMODB_WRITE_UNIT_BYTES)


def _row(quota: Quota, region: str, per_event: float, action: str, **kw: Any) -> Row:
    limit, verified = quota.in_region(region)
    return Row(
        quota=quota.name,
        limit=kw.pop("limit", limit),
        unit=quota.unit,
        per_event=per_event,
        kind=kw.pop("kind", "sustained"),
        verified=verified,
        source=f"{quota.source.title} ({quota.source.url}), checked {quota.source.checked}",
        action=action,
        **kw,
    )


def lambda_ms_per_event(deployment: Deployment, traffic: Traffic) -> float:
    """Function busy time, in ms, per source event (its follow-up's invocation included)."""
    cpu_ms = traffic.handler_cpu_ms * max(1.0, LAMBDA_FULL_VCPU_MB / deployment.function.memory_mb)
    f = traffic.follow_up_share
    return (1 + f) * (cpu_ms + PUT_ITEM_MS) + f * PUT_EVENTS_MS


def rows(deployment: Deployment, region: str, traffic: Traffic) -> list[Row]:
    """Every quota the pipeline meets, with the source-event rate at which it binds."""
    f = traffic.follow_up_share
    fn = deployment.function
    out: list[Row] = []

    out.append(
        _row(
            PUT_EVENTS_PER_SECOND,
            region,
            1 / traffic.entries_per_put + f,  # producers' calls + one call per follow-up
            "request a PutEvents quota increase (Service Quotas L-9B653E91); "
            "producers: up to 10 entries per call",
        )
    )
    out.append(
        _row(
            INVOCATIONS_PER_SECOND,
            region,
            (1 + f) * deployment.every_event_targets + f * deployment.follow_up_targets,
            "request an invocations quota increase (Service Quotas L-5540C5E3)",
        )
    )

    concurrency_s = lambda_ms_per_event(deployment, traffic) / 1000
    account, _ = LAMBDA_CONCURRENT_EXECUTIONS.in_region(region)
    if deployment.reserved_concurrency is not None:
        limit = float(deployment.reserved_concurrency)
        action = "raise PersisterProps.reserved_concurrency (or unset it)"
    else:
        limit = account
        action = "request a Lambda concurrent executions increase (Service Quotas L-B99A9384)"
    out.append(
        replace(
            _row(LAMBDA_CONCURRENT_EXECUTIONS, region, concurrency_s, action, limit=limit),
            quota=LAMBDA_CONCURRENT_EXECUTIONS.name
            + (" (reserved)" if deployment.reserved_concurrency is not None else ""),
        )
    )
    per_concurrency, _ = LAMBDA_REQUESTS_PER_CONCURRENCY.in_region(region)
    out.append(
        replace(
            _row(
                LAMBDA_REQUESTS_PER_CONCURRENCY,
                region,
                1 + f,
                action,
                limit=per_concurrency * limit,
            ),
            quota=f"Lambda requests/s ({per_concurrency:.0f} x the concurrency limit)"
            + (" (reserved)" if deployment.reserved_concurrency is not None else ""),
            unit="requests/s",
        )
    )
    out.append(
        _row(
            LAMBDA_SCALING_PER_10_SECONDS,
            region,
            concurrency_s,
            "none needed: Lambda adds 1,000 environments every 10 s until the concurrency limit",
            kind="ramp",
        )
    )

    base_units = _write_units(traffic.item_bytes) + f * _write_units(FOLLOW_UP_ITEM_BYTES)
    index_units = 0.0  # keys-only GSIs: one write unit per indexed item
    if fn.saga_index:
        index_units += traffic.saga_share * (1 + f)  # follow-ups carry the saga id too
    if fn.event_name_index:
        index_units += 1 + f
    table_limit, _ = DYNAMODB_TABLE_WRITE_UNITS.in_region(region)
    capped = deployment.table_max_write_units is not None
    index_hint = "; or turn off EventTableProps.saga_index" if fn.saga_index else ""
    out.append(
        _row(
            DYNAMODB_TABLE_WRITE_UNITS,
            region,
            base_units + index_units,
            (
                "raise the table's MaxWriteRequestUnits"
                if capped
                else "request a table-level write throughput increase (Service Quotas)"
            )
            + index_hint,
            limit=min(table_limit, deployment.table_max_write_units or table_limit),
        )
    )
    out.append(
        _row(
            DYNAMODB_NEW_TABLE_WRITE_UNITS,
            region,
            base_units + index_units,
            "pre-warm the table (WarmThroughput) before a launch, or grow by at most "
            f"{DYNAMODB_PEAK_MULTIPLE_PER_30_MINUTES}x the previous peak per 30 minutes",
            kind="ramp",
        )
    )
    if fn.saga_index:
        out.append(
            replace(
                _row(
                    DYNAMODB_PARTITION_WRITE_UNITS,
                    region,
                    traffic.hot_saga_share * traffic.saga_share * (1 + f),
                    "one saga's index entries share a partition: turn off the saga index "
                    "(EventTableProps.saga_index) or shard the saga key",
                ),
                quota=f"{DYNAMODB_PARTITION_WRITE_UNITS.name}: hottest saga in by-saga "
                f"({traffic.hot_saga_share:.0%} of events)",
            )
        )
    if fn.event_name_index:
        out.append(
            replace(
                _row(
                    DYNAMODB_PARTITION_WRITE_UNITS,
                    region,
                    traffic.hot_event_name_share * (1 + f),
                    "one event name's index entries share a partition: turn off "
                    "event_name_index or shard the key",
                ),
                quota=f"{DYNAMODB_PARTITION_WRITE_UNITS.name}: commonest event name in "
                f"by-event-name ({traffic.hot_event_name_share:.0%} of events)",
            )
        )

    if deployment.archive_stream:
        firehose = (
            "request a Firehose Direct PUT increase (Firehose Limits form; "
            "the three scale together)"
        )
        records = 1 + f
        out.append(_row(FIREHOSE_RECORDS_PER_SECOND, region, records, firehose))
        out.append(
            replace(
                _row(
                    FIREHOSE_REQUESTS_PER_SECOND,
                    region,
                    records / EVENTBRIDGE_RECORDS_PER_FIREHOSE_REQUEST,
                    firehose,
                ),
                verified=False,  # the one-record-per-request delivery is an assumption
            )
        )
        out.append(
            _row(
                FIREHOSE_BYTES_PER_SECOND,
                region,
                traffic.event_bytes + f * FOLLOW_UP_EVENT_BYTES,
                firehose,
            )
        )
    return out


def binding(result: list[Row], *, verified_only: bool = False) -> Row:
    """The sustained quota that binds at the lowest rate (of verified figures, if asked)."""
    sustained = [
        r
        for r in result
        if r.kind == "sustained" and r.binds_at is not None and (r.verified or not verified_only)
    ]
    if not sustained:
        raise CapacityError("no sustained quota applies: nothing binds")
    return min(sustained, key=lambda r: r.binds_at or math.inf)


@dataclass(frozen=True)
class FrontDoor:
    """A front door to come: the events/s it admits on its own."""

    door: str
    limit: str
    events_per_second: float | None  # None: no published ceiling
    verified: bool
    source: str


def front_doors(region: str, event_bytes: int, shards: int = 1) -> list[FrontDoor]:
    """The front doors' own ceilings for events of ``event_bytes`` (parametric; not built)."""

    def src(q: Quota) -> str:
        return f"{q.source.title} ({q.source.url}), checked {q.source.checked}"

    fifo, fifo_ok = SQS_FIFO_PER_ACTION.in_region(region)
    high, high_ok = SQS_FIFO_HIGH_THROUGHPUT_PER_ACTION.in_region(region)
    records, _ = KINESIS_SHARD_RECORDS.in_region(region)
    shard_bytes, _ = KINESIS_SHARD_BYTES.in_region(region)
    on_demand, _ = KINESIS_ON_DEMAND_DEFAULT_BYTES.in_region(region)
    on_demand_max, _ = KINESIS_ON_DEMAND_MAX_BYTES.in_region(region)
    per_shard = min(records, shard_bytes / event_bytes)
    return [
        FrontDoor(
            "SQS standard queue",
            "nearly unlimited API calls per second per action",
            None,
            True,
            f"{SQS_MESSAGE_QUOTAS.title} ({SQS_MESSAGE_QUOTAS.url}), checked {CHECKED}",
        ),
        FrontDoor(
            "SQS FIFO, one message per call",
            f"{fifo:,.0f} calls/s",
            fifo,
            fifo_ok,
            src(SQS_FIFO_PER_ACTION),
        ),
        FrontDoor(
            f"SQS FIFO, batches of {SQS_MAX_BATCH}",
            f"{fifo:,.0f} calls/s x {SQS_MAX_BATCH}",
            fifo * SQS_MAX_BATCH,
            fifo_ok,
            src(SQS_FIFO_PER_ACTION),
        ),
        FrontDoor(
            "SQS FIFO high-throughput mode, one message per call",
            f"{high:,.0f} calls/s (300/s per message group)",
            high,
            high_ok,
            src(SQS_FIFO_HIGH_THROUGHPUT_PER_ACTION),
        ),
        FrontDoor(
            f"Kinesis, provisioned, {shards} shard(s)",
            f"{records:,.0f} records/s or {shard_bytes / MIB:.0f} MiB/s per shard",
            shards * per_shard,
            True,
            src(KINESIS_SHARD_RECORDS),
        ),
        FrontDoor(
            "Kinesis on demand, new stream",
            f"{on_demand / MIB:.0f} MiB/s write",
            on_demand / event_bytes,
            True,
            src(KINESIS_ON_DEMAND_DEFAULT_BYTES),
        ),
        FrontDoor(
            "Kinesis on demand, maximum",
            f"{on_demand_max / MIB:,.0f} MiB/s write",
            on_demand_max / event_bytes,
            True,
            src(KINESIS_ON_DEMAND_MAX_BYTES),
        ),
    ]


# ----------------------------------------------------------------------------- inputs
def _region_of(env: str, override: str | None) -> str:
    from cdk_app.config import ENVIRONMENTS  # noqa: PLC0415

    if override:
        return override
    config = ENVIRONMENTS.get(env)
    return (config.region if config else None) or CLI_DEFAULT_REGION


def templates_from_cdk_out(directory: Path, prefix: str = "kahula") -> dict[str, dict[str, Any]]:
    """{environment: template} from an existing ``cdk.out`` (``make synth``)."""
    from cdk_app.config import ENVIRONMENTS  # noqa: PLC0415

    order = list(ENVIRONMENTS)
    found: dict[str, Path] = {
        path.name.removeprefix(f"{prefix}-").removesuffix(".template.json"): path
        for path in directory.glob(f"{prefix}-*.template.json")
    }
    if not found:
        raise CapacityError(f"no {prefix}-*.template.json in {directory}: run `make synth` first")
    out: dict[str, dict[str, Any]] = {}
    for env in sorted(found, key=lambda e: (order.index(e) if e in order else len(order), e)):
        try:
            out[env] = json.loads(found[env].read_text())
        except json.JSONDecodeError as error:
            raise CapacityError(f"{found[env]} is not valid JSON: {error}") from error
    return out


def templates_synthesized() -> dict[str, dict[str, Any]]:
    """{environment: template}, synthesized now exactly as bench/cost.py does."""
    from cdk_app.config import select_environments  # noqa: PLC0415
    from local.synth import synthesize  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        assembly, stacks = synthesize(Path(tmp), select_environments(None))
        return {
            s.stack_name.rsplit("-", 1)[1]: assembly.get_stack_by_name(s.stack_name).template
            for s in stacks
        }


def measured_item_bytes(event_bytes: int) -> int:
    """The stored item's size for the benchmark's sample event of ``event_bytes``."""
    from kahula_core.envelope import parse_envelope  # noqa: PLC0415
    from kahula_core.record import build_record  # noqa: PLC0415
    from kahula_core.settings import Settings  # noqa: PLC0415

    from bench.run import sample_event  # noqa: PLC0415

    envelope = parse_envelope(json.loads(sample_event(event_bytes)))
    return build_record(envelope, Settings(), "2026-11-22T00:00:00.000001Z").size_bytes


# ----------------------------------------------------------------------------- output
def report(
    templates: Mapping[str, Mapping[str, Any]], traffic: Traffic, region: str | None = None
) -> dict[str, Any]:
    """Everything `make capacity` shows, as data (what --json prints)."""
    environments: dict[str, Any] = {}
    regions = set()
    for env, template in templates.items():
        where = _region_of(env, region)
        regions.add(where)
        result = rows(read_deployment(template), where, traffic)
        first = binding(result)
        first_verified = binding(result, verified_only=True)
        environments[env] = {
            "region": where,
            "rows": [asdict(r) for r in result],
            "binding": first.quota,
            "binding_events_per_second": first.binds_at,
            "headroom": (first.binds_at or math.inf) / traffic.target,
            "action": first.action,
            "binding_verified": first_verified.quota,
            "binding_verified_events_per_second": first_verified.binds_at,
        }
    return {
        "checked": CHECKED,
        "traffic": asdict(traffic),
        "environments": environments,
        "front_doors": {
            r: [asdict(d) for d in front_doors(r, traffic.event_bytes)] for r in sorted(regions)
        },
    }


def _number(value: float | None) -> str:
    if value is None:
        return "never"
    return f"{value:,.0f}" if value >= 10 else f"{value:,.3g}"


def render(data: Mapping[str, Any]) -> None:
    """Rich tables: one per environment, the first binding quota in bold, then the doors."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(width=None if sys.stdout.isatty() else 150)
    traffic = data["traffic"]
    target = traffic["target"]
    console.print(
        f"Sustained rate at which each quota binds, in source events/s: "
        f"{traffic['event_bytes']}-byte events, follow-up share {traffic['follow_up_share']:.0%}, "
        f"{traffic['entries_per_put']} entr{'y' if traffic['entries_per_put'] == 1 else 'ies'} "
        f"per PutEvents call; target {target:,.0f} events/s. Quotas checked {data['checked']}."
    )
    for env, result in data["environments"].items():
        table = Table(title=f"{env} ({result['region']})", title_justify="left")
        for column in ("quota", "limit", "per event", "binds at (events/s)", "headroom"):
            table.add_column(column, justify="left" if column == "quota" else "right")
        table.add_column("action")
        for r in result["rows"]:
            first = r["quota"] == result["binding"]
            ramp = r["kind"] == "ramp"
            name = (
                r["quota"]
                + (" (ramp)" if ramp else "")
                + ("" if r["verified"] else " (unverified)")
            )
            headroom = "" if r["binds_at"] is None else f"{r['binds_at'] / target:,.1f}x"
            table.add_row(
                name,
                f"{_number(r['limit'])} {r['unit']}",
                _number(r["per_event"]),
                _number(r["binds_at"]),
                headroom,
                r["action"] if first else "",
                style="bold" if first else ("dim" if ramp else None),
            )
        console.print(table)
        console.print(
            f"[bold]{env}: binds first at {_number(result['binding_events_per_second'])} "
            f"events/s ({result['headroom']:,.1f}x the target): {result['binding']}[/bold]. "
            f"Action: {result['action']}."
        )
        if result["binding_verified"] != result["binding"]:
            console.print(
                f"{env}: of the verified figures alone, the first to bind is "
                f"{result['binding_verified']} at "
                f"{_number(result['binding_verified_events_per_second'])} events/s."
            )
    for region, doors in data["front_doors"].items():
        table = Table(
            title=f"Front doors to come ({region}; {traffic['event_bytes']}-byte events)",
            title_justify="left",
        )
        for column in ("front door", "limit", "admits (events/s)"):
            table.add_column(column, justify="left" if column != "admits (events/s)" else "right")
        for d in doors:
            table.add_row(
                d["door"] + ("" if d["verified"] else " (unverified)"),
                d["limit"],
                _number(d["events_per_second"]) if d["events_per_second"] else "no ceiling",
            )
        console.print(table)
    console.print("Sources: docs/capacity.md (and the named constants in bench/capacity.py).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity")
    parser.add_argument("--target", type=float, default=TARGET_EVENTS_PER_SECOND)
    parser.add_argument("--event-bytes", type=int, default=1024)
    parser.add_argument("--item-bytes", type=int, help="stored item size (default: measured)")
    parser.add_argument("--follow-up-share", type=float, default=0.0)
    parser.add_argument("--saga-share", type=float, default=1.0)
    parser.add_argument("--entries-per-put", type=int, default=ENTRIES_PER_PUT)
    parser.add_argument("--handler-cpu-ms", type=float, default=HANDLER_CPU_MS)
    parser.add_argument("--hot-saga-share", type=float, default=HOT_SAGA_SHARE)
    parser.add_argument("--hot-event-name-share", type=float, default=HOT_EVENT_NAME_SHARE)
    parser.add_argument("--region", help="override every environment's region")
    parser.add_argument("--cdk-out", type=Path, help="read templates from here, not synthesize")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    try:
        traffic = Traffic(
            target=args.target,
            event_bytes=args.event_bytes,
            item_bytes=args.item_bytes or measured_item_bytes(max(args.event_bytes, 1)),
            follow_up_share=args.follow_up_share,
            saga_share=args.saga_share,
            entries_per_put=args.entries_per_put,
            handler_cpu_ms=args.handler_cpu_ms,
            hot_saga_share=args.hot_saga_share,
            hot_event_name_share=args.hot_event_name_share,
        )
        templates = (
            templates_from_cdk_out(args.cdk_out) if args.cdk_out else templates_synthesized()
        )
        data = report(templates, traffic, args.region)
    except CapacityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        render(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
