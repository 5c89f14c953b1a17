"""Lambda entry for the Kinesis front door: records in, a partial batch response out.

Powertools' BatchProcessor calls ``record_handler`` for each record in order; the shared
machinery (``kahula_core.batch``) stores it through the same core as the bus, quarantines a
malformed record (reported as a success, so it never blocks its shard) and fails a transient
one and every later record of the batch (Lambda redelivers from the first failure). Then the
stored events go to the archive in one PutRecordBatch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)
from kahula_core.batch import (
    BatchConsumer,
    RecordResult,
    RecordView,
    build_archive,
    build_quarantine,
)
from kahula_core.clients import boto3_clients
from kahula_core.persist import build_pipeline
from kahula_core.reserved import refuse_platform_sources
from kahula_core.spec import BATCH_ITEM_FAILURES_METRIC, Metric
from kahula_core.store import WriteOutcome
from kahula_core.stream_events import (
    BareEventFields,
    coordinates,
    decode_data,
    to_platform_event,
)

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(
    event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
)

_WRITE_METRIC = {
    WriteOutcome.PERSISTED: Metric.PERSISTED,
    WriteOutcome.DUPLICATE: Metric.DUPLICATE,
    WriteOutcome.CONFLICT: Metric.CONFLICT,
}


class StreamConsumer:
    """What one container keeps: the core's pipeline, quarantine, archive and field names."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.pipeline = build_pipeline(environ)
        self.quarantine = build_quarantine(environ, boto3_clients)
        self.archive = build_archive(environ, boto3_clients)
        self.fields = BareEventFields.from_environment(environ)

    def batch(self) -> BatchConsumer:
        return BatchConsumer(
            pipeline=self.pipeline,
            quarantine=self.quarantine,
            archive=self.archive,
            to_event=self.to_event,
            describe=describe,
        )

    def to_event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        event = to_platform_event(decode_data(record), coordinates(record), self.fields)
        # The stream never crosses the bus's Deny on the platform's sources: check them here.
        refuse_platform_sources(event, self.pipeline)
        return event


def describe(record: Mapping[str, Any]) -> RecordView:
    where = coordinates(record)
    return RecordView(
        record_id=where.sequence_number,
        scope=where.shard_id,  # a batch is one shard: a failure holds the rest of it
        coordinates=where.as_dict(),
        data=str((record.get("kinesis") or {}).get("data", "")),
    )


_consumer: StreamConsumer | None = None


def consumer() -> StreamConsumer:
    global _consumer  # noqa: PLW0603 - one per container, by design
    if _consumer is None:
        _consumer = StreamConsumer(os.environ)
    return _consumer


def use_consumer(replacement: StreamConsumer | None) -> None:
    """Inject a consumer (tests, benchmarks); None makes the next invocation build afresh."""
    global _consumer  # noqa: PLW0603
    _consumer = replacement


def _count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _record_metrics(result: RecordResult) -> None:
    if result.quarantined is not None:
        _count(Metric.MALFORMED)
        logger.warning(
            "record quarantined", extra={"record": result.record_id, "reason": result.quarantined}
        )
        return
    outcome = result.outcome
    assert outcome is not None  # a RecordResult is stored or quarantined
    _count(_WRITE_METRIC[outcome.write])
    if outcome.oversize:
        _count(Metric.OVERSIZE)
    if outcome.emit_report.emitted:
        _count(Metric.FOLLOW_UPS_EMITTED, outcome.emit_report.emitted)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch = consumer().batch()

    def record_handler(record: KinesisStreamRecord) -> RecordResult:
        return batch.handle(record.raw_event)

    response = dict(process_partial_response(event, record_handler, processor, context))
    failures = list(response.get("batchItemFailures", []))
    refused = batch.finish()
    if refused:
        logger.error("archive refused records; they are redelivered", extra={"records": refused})
        failures += [{"itemIdentifier": r} for r in refused]
    for result in batch.results:
        _record_metrics(result)
    if failures:
        _count(BATCH_ITEM_FAILURES_METRIC, len(failures))
    return {"batchItemFailures": failures}
