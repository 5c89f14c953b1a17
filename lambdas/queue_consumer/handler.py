"""Lambda entry for the SQS FIFO queue: Powertools' FIFO partial batch processor around
``process_message``. A message that raises is reported in ``batchItemFailures`` and so is every
later message of its group in the batch (order within a tenant is kept); other groups go on.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from kahula_core.spec import QUEUE_CONSUMER_SERVICE_NAME, Metric

from queue_consumer.process import Consumer, Received, Result, build_consumer, process_message

# Logs name this function; metrics keep the platform's service dimension (the environment's
# POWERTOOLS_SERVICE_NAME), so the stack's alarms count what this door stores.
logger = Logger(service=QUEUE_CONSUMER_SERVICE_NAME)
metrics = Metrics()
_WRITE_METRIC = {
    "persisted": Metric.PERSISTED,
    "duplicate": Metric.DUPLICATE,
    "conflict": Metric.CONFLICT,
}
processor = SqsFifoPartialProcessor(skip_group_on_error=True)

_consumer: Consumer | None = None


def consumer() -> Consumer:
    """The container's consumer, built on the first message and reused."""
    global _consumer  # noqa: PLW0603 - one per container, by design
    if _consumer is None:
        _consumer = build_consumer(os.environ)
    return _consumer


def use_consumer(replacement: Consumer | None) -> None:
    """Inject a consumer (tests, benchmarks); None makes the next invocation build afresh."""
    global _consumer  # noqa: PLW0603
    _consumer = replacement


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    received = Received.from_record(record.raw_event)
    result: Result = process_message(received, consumer())
    _count(f"QueueMessages{result.status.capitalize()}")
    if not result.recorded and result.status in ("READY", "INVALID"):
        _count("QueueMessagesDuplicate")
    if result.outcome is not None:
        _count(_WRITE_METRIC[result.outcome.write.value])
        if result.outcome.emit_report.emitted:
            _count(Metric.FOLLOW_UPS_EMITTED)
    if result.status != "READY":
        context = {
            "reason": result.reason,
            "tenant_id": result.tenant_id,
            "event_id": result.event_id,
            "message_id": received.message_id,
        }
        if result.reason_on_dead_letter:
            logger.warning(f"message {result.status}", extra=context)
        else:  # the DLQ message could not carry it: this line is where the reason is kept
            logger.error(
                f"message {result.status}; its body left no room for the reason on the "
                "dead-letter message, which carries the body only",
                extra=context,
            )
    return {"status": result.status, "recorded": result.recorded}


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
