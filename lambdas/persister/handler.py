"""Lambda entry for the bus: parse, call the core, record what happened, return.

The logic lives in ``kahula_core`` (persist.py reads top to bottom). Import cost is cold-start
cost: this module imports Powertools' Logger and Metrics and the core; boto3 clients are
created on first use, once per container; the X-Ray SDK only when detailed tracing is on.

Cost at volume: the common outcome, a newly stored event, writes nothing to CloudWatch Logs
(no log line at INFO, no EMF line). Stored events are counted by Lambda's own metrics:
successful invocations minus duplicates and conflicts (the Monitoring dashboard draws it so).
An EMF line is written only for what an operator counts apart: duplicates, conflicts,
malformed events, oversize events, follow-ups and their failures.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from kahula_core.errors import FollowUpEmissionError, MalformedEventError
from kahula_core.persist import Outcome, Pipeline, build_pipeline, persist_event
from kahula_core.spec import Env, Metric
from kahula_core.store import WriteOutcome

logger = Logger()
metrics = Metrics()

# A stored event is counted by metrics; its line is DEBUG so INFO logs stay cheap at volume.
_LOG_LEVEL = {
    WriteOutcome.PERSISTED: (logging.DEBUG, "debug"),
    WriteOutcome.DUPLICATE: (logging.INFO, "info"),
    WriteOutcome.CONFLICT: (logging.WARNING, "warning"),
}
# A stored event has no metric of its own: Lambda's Invocations and Errors count it for free.
_WRITE_METRIC = {
    WriteOutcome.DUPLICATE: Metric.DUPLICATE,
    WriteOutcome.CONFLICT: Metric.CONFLICT,
}


def _enable_detailed_tracing(environ: Mapping[str, str]) -> None:
    """Patch botocore for X-Ray subsegments; only when asked, because the SDK import is slow."""
    if environ.get(Env.POWERTOOLS_TRACE_DISABLED, "true").lower() == "false":
        from aws_lambda_powertools import Tracer  # noqa: PLC0415 - X-Ray SDK import is slow

        Tracer()  # auto-patches botocore; Lambda's own segment is there either way


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


def _count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _flush_metrics() -> None:
    """One EMF line for what this invocation counted; nothing at all when it counted nothing."""
    if metrics.metric_set:
        metrics.flush_metrics()


def _record_metrics(outcome: Outcome) -> None:
    write_metric = _WRITE_METRIC.get(outcome.write)
    if write_metric is not None:
        _count(write_metric)
    if outcome.oversize:
        _count(Metric.OVERSIZE)
    if outcome.emit_report.emitted:
        _count(Metric.FOLLOW_UPS_EMITTED, outcome.emit_report.emitted)
    if outcome.emit_report.failed_entries:
        _count(Metric.FOLLOW_UP_FAILURES, outcome.emit_report.failed_entries)


@logger.inject_lambda_context
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    # Correlation id = the EventBridge id (a dict lookup; no JMESPath search per event).
    logger.set_correlation_id(event.get("id") if isinstance(event, dict) else None)
    try:
        outcome = persist_event(event, pipeline())
        _record_metrics(outcome)
    except MalformedEventError as exc:
        _count(Metric.MALFORMED)
        logger.error("event rejected as malformed", extra={"reason": str(exc)})
        raise
    except FollowUpEmissionError as exc:
        _count(Metric.FOLLOW_UP_FAILURES, exc.failed_entries or 1)
        logger.error("follow-up emission failed", extra={"reason": str(exc)})
        raise
    finally:
        _flush_metrics()
    follow_up_ids = [f.follow_up_id for f in outcome.follow_ups]
    level, method = _LOG_LEVEL[outcome.write]
    if level >= logger.log_level:  # the common case, a stored event at INFO, builds nothing
        getattr(logger, method)(
            f"event {outcome.write.value}",
            extra={
                "unique_id": outcome.unique_id,
                "payload_hash": outcome.payload_hash,
                "stored_payload_hash": outcome.stored_payload_hash,
                "differences": outcome.differences,
                "oversize": outcome.oversize,
                "replayed": outcome.replayed,
                "follow_ups": follow_up_ids,
            },
        )
    return {
        "unique_id": outcome.unique_id,
        "outcome": outcome.write.value,
        "follow_ups": follow_up_ids,
    }
