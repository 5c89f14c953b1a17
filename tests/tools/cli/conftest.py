"""The CLI against moto: a Target on in-process moto clients, with the stack's resources."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cdk_app import stack_outputs as so
from cdk_app.cli.context import Options, State, Target
from cdk_app.cli.main import run
from cdk_app.cli.output import Output

REGION = "eu-west-1"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


@dataclass
class Deployed:
    """The resources a deployed stack would have, on moto, and its outputs."""

    outputs: dict[str, str]
    #: service -> a fake client used instead of moto's (Lambda and Firehose calls, recorded)
    fakes: dict[str, Any] = field(default_factory=dict)

    def target(self, options: Options) -> Target:
        return Target(
            env=options.env,
            stack_name=options.stack_name,
            outputs=self.outputs,
            client_factory=lambda service: (
                self.fakes.get(service) or boto3.client(service, region_name=REGION)
            ),
            region=REGION,
        )

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def deployed(aws) -> Deployed:
    """Bus, table, archive bucket and the operator queues, named by the stack's outputs."""
    s3 = boto3.client("s3", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    bus = events.create_event_bus(Name="kahula-events-dev")["EventBusArn"]
    dynamodb.create_table(
        TableName="kahula-events-dev",
        KeySchema=[{"AttributeName": "unique_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "unique_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(
        Bucket="kahula-archive-dev", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    outputs = {
        so.EVENT_BUS_NAME: "kahula-events-dev",
        so.EVENT_BUS_ARN: bus,
        so.EVENT_TABLE_NAME: "kahula-events-dev",
        so.ARCHIVE_BUCKET_NAME: "kahula-archive-dev",
    }
    fifo = {"FifoQueue": "true"}
    for name, key in so.OPERATOR_QUEUES.items():
        attributes = fifo if name == "ingest-dlq" else {}
        queue = f"kahula-{name}-dev" + (".fifo" if name == "ingest-dlq" else "")
        outputs[key] = sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
    outputs[so.INGEST_QUEUE_URL] = sqs.create_queue(
        QueueName="kahula-queue-ingest-dev.fifo", Attributes=fifo
    )["QueueUrl"]
    for detail_type in ("ValidatableEvent", "IndexableEvent"):
        short = detail_type.removesuffix("Event").lower()
        outputs[so.follow_up_queue_url(detail_type)] = sqs.create_queue(QueueName=short)["QueueUrl"]
        outputs[so.consumer_dlq_url(detail_type)] = sqs.create_queue(QueueName=f"{short}-dlq")[
            "QueueUrl"
        ]
    outputs[so.PERSISTER_FUNCTION_NAME] = "kahula-persister-dev"
    outputs[so.ARCHIVE_STREAM_NAME] = "kahula-events-dev"
    return Deployed(outputs)


@pytest.fixture
def cli(deployed) -> Callable[..., Ran]:
    """Run one `kahula` command line against the moto resources; its exit code and output."""

    def invoke(*argv: str, stdin: str | None = None) -> Ran:
        stdout, stderr = io.StringIO(), io.StringIO()
        json_mode = "--json" in argv
        state = State(
            target_factory=deployed.target,
            output=Output(json_mode=json_mode, stdout=stdout, stderr=stderr),
        )
        code = run(list(argv), state=state)
        return Ran(int(code), stdout.getvalue(), stderr.getvalue())

    return invoke
