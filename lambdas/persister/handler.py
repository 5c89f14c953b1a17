"""Lambda entry point: parse, call the logic, record what happened.

Import cost is cold-start cost: this module imports Powertools' Logger and Metrics and the
botocore pieces the logic needs; boto3 clients are created on first use, once per container;
the X-Ray SDK is imported only when detailed tracing is switched on.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from .contract import ContractSettings
from .errors import ConfigurationError, FollowUpEmissionError, MalformedEventError
from .follow_ups import FollowUpEmitter
from .persist import Outcome, Pipeline, persist_event
from .store import ConflictQueue, EventStore, PayloadStore, WriteOutcome

logger = Logger()
metrics = Metrics()

# A stored event is counted by metrics; its line is DEBUG so INFO logs stay cheap at volume.
_LOG_LEVEL = {
    WriteOutcome.PERSISTED: (logging.DEBUG, "debug"),
    WriteOutcome.DUPLICATE: (logging.INFO, "info"),
    WriteOutcome.CONFLICT: (logging.WARNING, "warning"),
}


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _client_factory(service: str) -> Callable[[], Any]:
    @functools.cache
    def create() -> Any:
        import boto3  # noqa: PLC0415 - deferred: only the clients an invocation uses
        from botocore.config import Config  # noqa: PLC0415

        config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=2,
            read_timeout=10,
        )
        return boto3.client(service, config=config)  # type: ignore[call-overload]

    return create


def _enable_detailed_tracing(environ: Mapping[str, str]) -> None:
    """Patch botocore for X-Ray subsegments; only when asked, because the SDK import is slow."""
    if environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() == "false":
        from aws_lambda_powertools import Tracer  # noqa: PLC0415 - X-Ray SDK import is slow

        Tracer()  # auto-patches botocore; Lambda's own segment is there either way


def build_pipeline(
    environ: Mapping[str, str],
    client: Callable[[str], Callable[[], Any]] = _client_factory,
) -> Pipeline:
    """Wire the logic to its AWS clients from the function's environment."""
    settings = ContractSettings.from_env(environ)
    payloads = PayloadStore(
        s3=client("s3"),
        bucket=_required(environ, "PAYLOAD_BUCKET"),
        prefix=_required(environ, "PAYLOAD_PREFIX"),
    )
    return Pipeline(
        settings=settings,
        store=EventStore(dynamodb=client("dynamodb"), table_name=_required(environ, "TABLE_NAME")),
        payloads=payloads,
        conflicts=ConflictQueue(
            sqs=client("sqs"),
            queue_url=_required(environ, "CONFLICTS_QUEUE_URL"),
            payloads=payloads,
        ),
        emitter=FollowUpEmitter(
            events_client=client("events"),
            bus_name=_required(environ, "EVENT_BUS_NAME"),
            source=_required(environ, "FOLLOW_UP_SOURCE"),
        ),
    )


_pipeline: Pipeline | None = None


def pipeline() -> Pipeline:
    """The container's pipeline, built on the first invocation and reused."""
    global _pipeline  # noqa: PLW0603 - one per container, by design
    if _pipeline is None:
        _enable_detailed_tracing(os.environ)
        _pipeline = build_pipeline(os.environ)
    return _pipeline


def use_pipeline(replacement: Pipeline | None) -> None:
    """Inject a pipeline (tests, benchmarks); None makes the next invocation build afresh."""
    global _pipeline  # noqa: PLW0603
    _pipeline = replacement


def _record_metrics(outcome: Outcome) -> None:
    if outcome.write is WriteOutcome.PERSISTED:
        metrics.add_metric(name="EventsPersisted", unit=MetricUnit.Count, value=1)
    elif outcome.write is WriteOutcome.DUPLICATE:
        metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="ConflictingEvents", unit=MetricUnit.Count, value=1)
    if outcome.oversize:
        metrics.add_metric(name="OversizeEvents", unit=MetricUnit.Count, value=1)
    if outcome.emit_report.emitted:
        metrics.add_metric(
            name="FollowUpsEmitted",
            unit=MetricUnit.Count,
            value=outcome.emit_report.emitted,
        )
    if outcome.emit_report.failed_entries:
        metrics.add_metric(
            name="FollowUpFailures",
            unit=MetricUnit.Count,
            value=outcome.emit_report.failed_entries,
        )


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    # Correlation id = the EventBridge id (a dict lookup; no JMESPath search per event).
    logger.set_correlation_id(event.get("id") if isinstance(event, dict) else None)
    try:
        outcome = persist_event(event, pipeline())
    except MalformedEventError as exc:
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        logger.error("event rejected as malformed", extra={"reason": str(exc)})
        raise
    except FollowUpEmissionError as exc:
        failed = exc.report.failed_entries if exc.report is not None else 1
        metrics.add_metric(name="FollowUpFailures", unit=MetricUnit.Count, value=failed)
        logger.error("follow-up emission failed", extra={"reason": str(exc)})
        raise
    _record_metrics(outcome)
    follow_up_ids = [f.follow_up_id for f in outcome.follow_ups]
    level, method = _LOG_LEVEL[outcome.write]
    if level >= logger.log_level:  # the common case, a stored event at INFO, builds nothing
        getattr(logger, method)(
            f"event {outcome.write.value}",
            extra={
                "unique_id": outcome.unique_id,
                "payload_hash": outcome.payload_hash,
                "stored_payload_hash": outcome.stored_payload_hash,
                "oversize": outcome.oversize,
                "follow_ups": follow_up_ids,
            },
        )
    return {
        "unique_id": outcome.unique_id,
        "outcome": outcome.write.value,
        "follow_ups": follow_up_ids,
    }
