"""Create in moto what the template declares, and recreate every rule with a route queue.

moto's EventBridge does the pattern matching (the full pattern language: prefix, suffix,
wildcard, anything-but, numeric, exists): each rule gets an internal SQS queue as its only
target, and the runtime pumps each route queue to the rule's real target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .pipes import NOT_SIMULATED, PIPE
from .topology import Resource, Topology, UnsupportedTemplate

ROUTE_QUEUE_PREFIX = "local-route-"
# Types the local pipeline creates or simulates, plus those it has no use for locally
# (IAM, logs, alarms, the alarm topic and its key): anything else fails loudly.
SUPPORTED = {
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::Events::Archive",
    "AWS::Events::Rule",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventSourceMapping",  # SQS FIFO sources: polled by local/fifo.py
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::Logs::LogGroup",
    "AWS::Logs::LogStream",
    "AWS::CDK::Metadata",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::KMS::Key",
    PIPE,  # emulated by local/pipes.py (stream -> filter -> input template -> bus)
    *NOT_SIMULATED,  # AWS Backup: accepted, nothing is backed up locally
    "AWS::Kinesis::Stream",
    "AWS::Kinesis::StreamConsumer",  # local/kinesis.py polls it
    # The HTTP API (EventApi): local/api_server.py stands in for API Gateway and calls the
    # functions directly; the API's own resources have nothing to create locally.
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::Authorizer",
    "AWS::Cognito::UserPool",
    # The archive catalog (ArchiveCatalog): `kahula query --local` reads the archive objects
    # with DuckDB, so the Glue table, the Athena workgroup and its policy have nothing to do.
    "AWS::Glue::Database",
    "AWS::Glue::Table",
    "AWS::Athena::WorkGroup",
    "AWS::IAM::ManagedPolicy",
}


@dataclass
class Route:
    """One rule target: where moto delivers matches, and what the runtime does with them."""

    rule: str
    target_id: str
    route_queue_url: str
    target: Resource
    retry_attempts: int
    dead_letter_queue_url: str | None


@dataclass
class Clients:
    s3: Any
    sqs: Any
    dynamodb: Any
    events: Any
    firehose: Any
    kinesis: Any = None


def provision(topology: Topology, clients: Clients) -> list[Route]:
    unsupported = {r.type for r in topology.resources.values()} - SUPPORTED
    if unsupported:
        raise UnsupportedTemplate(f"not simulated locally: {', '.join(sorted(unsupported))}")
    for r in topology.of_type("AWS::S3::Bucket"):
        clients.s3.create_bucket(Bucket=topology.name(r.logical_id))
    _queues(topology, clients)
    for r in topology.of_type("AWS::DynamoDB::Table"):
        _table(topology, clients, r)
    for r in topology.of_type("AWS::Events::EventBus"):
        clients.events.create_event_bus(Name=topology.name(r.logical_id))
    for r in topology.of_type("AWS::KinesisFirehose::DeliveryStream"):
        _stream(topology, clients, r)
    for r in topology.of_type("AWS::Kinesis::Stream"):
        _kinesis_stream(topology, clients, r)
    routes: list[Route] = []
    for r in topology.of_type("AWS::Events::Rule"):
        routes += _rule(topology, clients, r)
    return routes


def _queues(topology: Topology, clients: Clients) -> None:
    queues = topology.of_type("AWS::SQS::Queue")
    for r in queues:  # create all first: redrive policies name other queues
        attributes: dict[str, str] = {
            k: str(r.properties[k]).lower()
            for k in ("FifoQueue", "ContentBasedDeduplication")
            if k in r.properties
        }
        if "MaximumMessageSize" in r.properties:  # moto enforces it, as SQS does
            attributes["MaximumMessageSize"] = str(r.properties["MaximumMessageSize"])
        url = clients.sqs.create_queue(
            QueueName=topology.name(r.logical_id), Attributes=attributes
        )["QueueUrl"]
        topology.queue_urls[r.logical_id] = url
    for r in queues:
        redrive = r.properties.get("RedrivePolicy")
        if redrive:
            clients.sqs.set_queue_attributes(
                QueueUrl=topology.queue_urls[r.logical_id],
                Attributes={"RedrivePolicy": json.dumps(topology.resolve(redrive))},
            )


def _table(topology: Topology, clients: Clients, r: Resource) -> None:
    p = r.properties
    kwargs: dict[str, Any] = {
        "TableName": topology.name(r.logical_id),
        "KeySchema": p["KeySchema"],
        "AttributeDefinitions": p["AttributeDefinitions"],
        "BillingMode": p.get("BillingMode", "PROVISIONED"),
    }
    if p.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
            for gsi in p["GlobalSecondaryIndexes"]
        ]
    if p.get("StreamSpecification"):  # the outbox pipe reads it (local/pipes.py)
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    clients.dynamodb.create_table(**kwargs)


def _stream(topology: Topology, clients: Clients, r: Resource) -> None:
    destination = topology.resolve(r.properties["ExtendedS3DestinationConfiguration"])
    clients.firehose.create_delivery_stream(
        DeliveryStreamName=topology.name(r.logical_id),
        DeliveryStreamType=r.properties.get("DeliveryStreamType", "DirectPut"),
        ExtendedS3DestinationConfiguration=destination,
    )


def _kinesis_stream(topology: Topology, clients: Clients, r: Resource) -> None:
    """The stream as declared (mode, shards, retention); encryption is not simulated."""
    if clients.kinesis is None:
        raise UnsupportedTemplate(f"{r.logical_id}: a Kinesis stream needs a kinesis client")
    p, name = r.properties, topology.name(r.logical_id)
    mode = p.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    kwargs: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        kwargs["ShardCount"] = int(p.get("ShardCount", 1))
    clients.kinesis.create_stream(**kwargs)
    hours = int(p.get("RetentionPeriodHours", 24))
    if hours > 24:
        clients.kinesis.increase_stream_retention_period(
            StreamName=name, RetentionPeriodHours=hours
        )


def _rule(topology: Topology, clients: Clients, r: Resource) -> list[Route]:
    p = r.properties
    bus = topology.resolve(p.get("EventBusName", "default"))
    name = topology.name(r.logical_id)
    clients.events.put_rule(
        Name=name, EventBusName=bus, EventPattern=json.dumps(p["EventPattern"]), State="ENABLED"
    )
    routes = []
    for target in p["Targets"]:
        if any(k in target for k in ("Input", "InputPath", "InputTransformer")):
            raise UnsupportedTemplate(f"rule {r.logical_id}: target input transformation")
        route_url = clients.sqs.create_queue(QueueName=_route_queue_name(r, target))["QueueUrl"]
        route_arn = clients.sqs.get_queue_attributes(
            QueueUrl=route_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        clients.events.put_targets(
            Rule=name, EventBusName=bus, Targets=[{"Id": target["Id"], "Arn": route_arn}]
        )
        routes.append(_route(topology, r, target, route_url))
    return routes


def existing_routes(topology: Topology, clients: Clients) -> list[Route]:
    """The routes ``provision`` created earlier on this server (a later process attaching to
    a running local session): every rule target's route queue, looked up, nothing created."""
    return [
        _route(
            topology,
            r,
            target,
            clients.sqs.get_queue_url(QueueName=_route_queue_name(r, target))["QueueUrl"],
        )
        for r in topology.of_type("AWS::Events::Rule")
        for target in r.properties["Targets"]
    ]


def _route_queue_name(r: Resource, target: dict[str, Any]) -> str:
    return f"{ROUTE_QUEUE_PREFIX}{r.logical_id}-{target['Id']}"[:80]


def _route(topology: Topology, r: Resource, target: dict[str, Any], route_url: str) -> Route:
    dlq_arn = topology.resolve(target.get("DeadLetterConfig", {}).get("Arn"))
    return Route(
        rule=r.logical_id,
        target_id=target["Id"],
        route_queue_url=route_url,
        target=topology.by_arn(topology.resolve(target["Arn"])),
        retry_attempts=target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185),
        dead_letter_queue_url=(
            topology.ref(topology.by_arn(dlq_arn).logical_id) if dlq_arn else None
        ),
    )


def existing_queues(topology: Topology, clients: Clients) -> None:
    """Fill the topology's queue URLs from a server ``provision`` already set up."""
    for r in topology.of_type("AWS::SQS::Queue"):
        topology.queue_urls[r.logical_id] = clients.sqs.get_queue_url(
            QueueName=topology.name(r.logical_id)
        )["QueueUrl"]
