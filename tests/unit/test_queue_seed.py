"""The seeder's pieces that need no queue: the samples it sends, the deployed queue lookup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.seed import QUEUE_OUTPUT, SeedError, deployed_queue_url, samples, send


class FakeCloudFormation:
    def __init__(self, outputs: list[dict[str, str]]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "Outputs": self.outputs}]}


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def test_one_sample_per_schema_and_one_invalid_with_the_flag() -> None:
    valid, both = samples(invalid=False), samples(invalid=True)
    assert len(valid) == 5
    assert len(both) == 10
    assert len({m["event_id"] for m in both}) == 10  # fresh ids, as the Go seeder sends


def test_messages_are_sent_grouped_by_tenant_and_deduplicated_by_event_id() -> None:
    sqs = FakeSqs()
    (message,) = samples(invalid=False)[:1]
    send(sqs, "https://queue", [message])
    (call,) = sqs.sent
    assert call["MessageGroupId"] == message["tenant_id"]
    assert call["MessageDeduplicationId"] == message["event_id"]
    assert json.loads(call["MessageBody"]) == message


def test_the_deployed_queue_is_the_stacks_output() -> None:
    cfn = FakeCloudFormation([{"OutputKey": QUEUE_OUTPUT, "OutputValue": "https://q.fifo"}])
    assert deployed_queue_url(cfn, "kahula-dev") == "https://q.fifo"


def test_a_stack_without_the_door_is_a_clear_error() -> None:
    with pytest.raises(SeedError, match="has no IngestQueueUrl output"):
        deployed_queue_url(FakeCloudFormation([]), "kahula-prod")


def test_a_schema_without_its_sample_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.schema.json").write_text("{}")
    with pytest.raises(SeedError, match=r"x: no x\.sample\.json beside its schema"):
        samples(invalid=False, folder=tmp_path)
