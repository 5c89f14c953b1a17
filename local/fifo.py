"""The SQS FIFO door on moto: send envelopes to the FIFO queue, and poll it the way Lambda's
event source mapping does.

The poller receives up to ``BatchSize`` messages (moto keeps FIFO order and holds back a
group while one of its messages is in flight), hands them to the consumer's real handler as
an SQS event, deletes those it did not report in ``batchItemFailures``, and makes the failed
ones visible again at once (Lambda waits for the visibility timeout; locally that would only
be a pause). After ``maxReceiveCount`` receives, moto's redrive moves a message to the DLQ.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cdk_app.cli.seeding import send_envelopes

from .runtime import LocalLambda
from .topology import Resource, Topology, UnsupportedTemplate

MAX_ROUNDS = 10_000  # a poller that never empties its queue is a bug: stop, say so


@dataclass
class PollStats:
    invocations: int = 0
    received: int = 0
    acknowledged: int = 0
    returned: int = 0  # reported failed (or the whole invocation failed): visible again
    crashed: int = 0  # invocations that raised


@dataclass
class FifoDoor:
    """One FIFO event source mapping of the template, with its queue, DLQ and function."""

    topology: Topology
    sqs: Any
    mapping: Resource
    function: LocalLambda
    queue_url: str
    dead_letter_url: str | None
    batch_size: int
    stats: PollStats = field(default_factory=PollStats)
    drained: list[dict[str, Any]] = field(default_factory=list)  # DLQ messages read off

    @classmethod
    def from_template(
        cls, topology: Topology, sqs: Any, lambdas: Mapping[str, LocalLambda]
    ) -> list[FifoDoor]:
        doors = []
        for mapping in topology.of_type("AWS::Lambda::EventSourceMapping"):
            p = mapping.properties
            source = topology.by_arn(topology.resolve(p["EventSourceArn"]))
            if source.type == "AWS::Kinesis::Stream":
                continue  # the Kinesis door's (local/kinesis.py)
            if source.type != "AWS::SQS::Queue" or not source.properties.get("FifoQueue"):
                raise UnsupportedTemplate(f"{mapping.logical_id}: only SQS FIFO sources")
            function_name = topology.resolve(p["FunctionName"])
            (function,) = [f for f in lambdas.values() if f.name == function_name]
            redrive = source.properties.get("RedrivePolicy")
            dlq_url = None
            if redrive:
                dlq = topology.by_arn(topology.resolve(redrive["deadLetterTargetArn"]))
                dlq_url = topology.ref(dlq.logical_id)
            doors.append(
                cls(
                    topology,
                    sqs,
                    mapping,
                    function,
                    topology.ref(source.logical_id),
                    dlq_url,
                    int(p.get("BatchSize", 10)),
                )
            )
        return doors

    # ------------------------------------------------------------------ producers

    def send(self, envelopes: Iterable[Mapping[str, Any]]) -> int:
        """SendMessage each envelope as the Go seeder does: group = tenant, dedup id = event id."""
        return send_envelopes(self.sqs, self.queue_url, envelopes)

    # ------------------------------------------------------------------ the mapping

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        arn = self.topology.arn(self.topology.by_arn(self._queue_arn()).logical_id)
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": m.get("MessageAttributes", {}),
                    "md5OfBody": m.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": self.topology.region,
                }
                for m in messages
            ]
        }

    def _queue_arn(self) -> str:
        return str(self.topology.resolve(self.mapping.properties["EventSourceArn"]))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The handler on one batch, in its own environment; None if it raised."""
        handler = self.function._load()
        os.environ.update(self.function.environment)
        try:
            with contextlib.redirect_stdout(self.function._log):
                return handler(event, self.function._context())  # type: ignore[no-any-return]
        except Exception:  # Lambda returns the whole batch; so do we
            self.stats.crashed += 1
            return None

    def poll_once(self) -> int:
        """One receive + invoke + delete; the number of messages received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.stats.invocations += 1
        self.stats.received += len(messages)
        response = self.invoke(self._event(messages))
        if response is None:
            failed = {m["MessageId"] for m in messages}
        else:
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(done)],
            )  # fmt: skip
        for m in messages:
            if m["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
        self.stats.acknowledged += len(done)
        self.stats.returned += len(failed)
        return len(messages)

    def poll(self) -> PollStats:
        """Poll until the queue is empty (messages that keep failing reach the DLQ)."""
        for _ in range(MAX_ROUNDS):
            if self.poll_once() == 0:
                return self.stats
        raise RuntimeError(f"the FIFO queue {self.queue_url} did not drain in {MAX_ROUNDS} polls")

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message on the DLQ (drained): body, reason attribute (if the consumer sent it).
        The drained messages are kept in ``self.drained`` (a session left running puts them
        back: LocalPipeline.put_back_drained)."""
        out: list[dict[str, Any]] = []
        if self.dead_letter_url is None:
            return out
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.dead_letter_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return out
            for m in messages:
                reason = m.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
                out.append({"body": m["Body"], "reason": reason or "receive limit reached"})
                self.drained.append(m)
                self.sqs.delete_message(
                    QueueUrl=self.dead_letter_url, ReceiptHandle=m["ReceiptHandle"]
                )
