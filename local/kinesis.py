"""A Kinesis event source mapping, emulated: poll each shard, invoke, checkpoint, retry.

What the template's ``AWS::Lambda::EventSourceMapping`` says is what happens, the way Lambda's
poller does it for a Kinesis source (Lambda guide, "services-kinesis" and its parameters):

* per shard, batches of up to ``BatchSize`` records in order, from TRIM_HORIZON;
* with ``ReportBatchItemFailures``: the response's failures checkpoint the shard just before
  the lowest failed sequence number and the batch is retried from there (one retry);
* a function error: the whole batch is retried; with ``BisectBatchOnFunctionError`` it is split
  in two and each half retried on its own (recursively);
* ``MaximumRetryAttempts`` and ``MaximumRecordAgeInSeconds`` bound that: then the batch's
  coordinates (never its records) go to the on-failure destination in Lambda's
  ``KinesisBatchInfo`` format, and the shard moves on.

An enhanced fan-out consumer is read with GetRecords like a shared-throughput one: locally the
difference is throughput, not behaviour. The batching window is not waited for.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .runtime import LocalLambda
from .topology import Resource, Topology, UnsupportedTemplate


@dataclass
class MappingStats:
    """What the poller did: every number the report shows."""

    records_read: int = 0
    invocations: int = 0
    partial_failures: int = 0  # invocations that reported batch item failures
    function_errors: int = 0
    bisections: int = 0
    retries: int = 0
    failed_batches: list[dict[str, Any]] = field(default_factory=list)  # KinesisBatchInfo


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


class LocalKinesisMapping:
    """One event source mapping of the template, from a Kinesis stream to a local function."""

    def __init__(
        self,
        topology: Topology,
        mapping: Resource,
        function: LocalLambda,
        *,
        kinesis: Any,
        sqs: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        p = mapping.properties
        source = topology.by_arn(topology.resolve(p["EventSourceArn"]))
        if source.type == "AWS::Kinesis::StreamConsumer":
            source = topology.by_arn(topology.resolve(source.properties["StreamARN"]))
        if source.type != "AWS::Kinesis::Stream":
            raise UnsupportedTemplate(f"{mapping.logical_id}: source {source.type}")
        if p.get("StartingPosition", "TRIM_HORIZON") != "TRIM_HORIZON":
            raise UnsupportedTemplate(f"{mapping.logical_id}: only TRIM_HORIZON is simulated")
        self.stream_name = topology.name(source.logical_id)
        self.stream_arn = topology.arn(source.logical_id)
        self.function = function
        self.batch_size = int(p.get("BatchSize", 100))
        self.bisect = bool(p.get("BisectBatchOnFunctionError", False))
        self.retry_attempts = int(p.get("MaximumRetryAttempts", -1))
        self.max_record_age = int(p.get("MaximumRecordAgeInSeconds", -1))
        self.partial = "ReportBatchItemFailures" in p.get("FunctionResponseTypes", [])
        destination = p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        self.on_failure_url = (
            topology.ref(topology.by_arn(topology.resolve(destination)).logical_id)
            if destination
            else None
        )
        self._kinesis = kinesis
        self._sqs = sqs
        self._clock = clock
        self._checkpoints: dict[str, str | None] = {}
        self.stats = MappingStats()

    # ------------------------------------------------------------------ polling

    @property
    def checkpoints(self) -> dict[str, str | None]:
        """Shard -> last sequence number consumed (a local session saves and restores it)."""
        return self._checkpoints

    def poll(self) -> int:
        """Consume every shard until none has an unread record; the records read."""
        before = self.stats.records_read
        busy = True
        while busy:
            busy = False
            for shard in self._shards():
                records = self._read(shard)
                if records:
                    busy = True
                    self.stats.records_read += len(records)
                    self._consume(shard, records)
        return self.stats.records_read - before

    def _shards(self) -> list[str]:
        shards = self._kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        return [s["ShardId"] for s in shards]

    def _read(self, shard: str) -> list[dict[str, Any]]:
        after = self._checkpoints.get(shard)
        iterator_args: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self._kinesis.get_shard_iterator(
            StreamName=self.stream_name, ShardId=shard, **iterator_args
        )["ShardIterator"]
        response = self._kinesis.get_records(ShardIterator=iterator, Limit=self.batch_size)
        return [self._as_lambda_record(shard, r) for r in response["Records"]]

    def _as_lambda_record(self, shard: str, record: dict[str, Any]) -> dict[str, Any]:
        arrival = record["ApproximateArrivalTimestamp"]
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": record["SequenceNumber"],
                "data": base64.b64encode(record["Data"]).decode("ascii"),
                "approximateArrivalTimestamp": arrival.timestamp(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{record['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"{self.function.arn}-role",
            "awsRegion": self.stream_arn.split(":")[3],
            "eventSourceARN": self.stream_arn,
        }

    # ------------------------------------------------------------------ one batch

    def _consume(self, shard: str, batch: list[dict[str, Any]]) -> None:
        """Invoke until the batch is done, split, expired or out of retries; checkpoint."""
        attempts = 0
        while batch:
            if self._too_old(batch[0]):
                self._give_up(shard, batch, "RecordAgeExceeded", attempts)
                return
            attempts += 1
            failed_from, errored = self._invoke(batch)
            if failed_from is None:
                self._checkpoint(shard, batch[-1])
                return
            if errored and self.bisect and len(batch) > 1:
                self.stats.bisections += 1
                half = len(batch) // 2
                self._consume(shard, batch[:half])
                self._consume(shard, batch[half:])
                return
            if failed_from:
                self._checkpoint(shard, batch[failed_from - 1])
                batch = batch[failed_from:]
            if self.retry_attempts >= 0 and attempts > self.retry_attempts:
                self._give_up(shard, batch, "RetryAttemptsExhausted", attempts)
                return
            self.stats.retries += 1

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """Run the function on the batch: (None, False) if it all succeeded, else the index to
        retry from and whether the function itself failed (which bisects)."""
        handler = self.function._load()  # the local runtime's own loader
        self.stats.invocations += 1
        try:
            with contextlib.redirect_stdout(self.function._log):
                response = handler({"Records": batch}, self.function._context())
        except Exception:  # any function error fails the invocation
            self.stats.function_errors += 1
            return 0, True
        failures = ((response or {}).get("batchItemFailures") or []) if self.partial else []
        if not failures:
            return None, False
        self.stats.partial_failures += 1
        sequences = [r["kinesis"]["sequenceNumber"] for r in batch]
        failed = {f.get("itemIdentifier") for f in failures}
        indexes = [i for i, s in enumerate(sequences) if s in failed]
        # An identifier not in the batch makes Lambda treat the whole batch as failed.
        return (min(indexes) if indexes and len(indexes) == len(failed) else 0), False

    def _too_old(self, record: dict[str, Any]) -> bool:
        if self.max_record_age < 0:
            return False
        arrival = float(record["kinesis"]["approximateArrivalTimestamp"])
        return self._clock() - arrival > self.max_record_age

    def _checkpoint(self, shard: str, record: dict[str, Any]) -> None:
        self._checkpoints[shard] = record["kinesis"]["sequenceNumber"]

    def _give_up(self, shard: str, batch: list[dict[str, Any]], condition: str, n: int) -> None:
        """Lambda's on-failure record for a stream: the batch's coordinates, not its data."""
        first, last = batch[0]["kinesis"], batch[-1]["kinesis"]
        info = {
            "shardId": shard,
            "startSequenceNumber": first["sequenceNumber"],
            "endSequenceNumber": last["sequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first["approximateArrivalTimestamp"]),
            "approximateArrivalOfLastRecord": _iso(last["approximateArrivalTimestamp"]),
            "batchSize": len(batch),
            "streamArn": self.stream_arn,
        }
        self.stats.failed_batches.append(info)
        if self.on_failure_url is not None:
            self._sqs.send_message(
                QueueUrl=self.on_failure_url,
                MessageBody=json.dumps(
                    {
                        "requestContext": {
                            "requestId": str(uuid.uuid4()),
                            "functionArn": self.function.arn,
                            "condition": condition,
                            "approximateInvokeCount": n,
                        },
                        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                        "version": "1.0",
                        "timestamp": _iso(self._clock()),
                        "KinesisBatchInfo": info,
                    }
                ),
            )
        self._checkpoint(shard, batch[-1])
