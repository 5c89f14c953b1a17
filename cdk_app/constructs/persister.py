"""The persister: a Python Lambda that stores every event on the bus exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from kahula_core import spec

from .common import (
    DEFAULT_PREFIX,
    LAMBDA_MEMORY_MB,
    LAMBDA_RESERVED_CONCURRENCY,
    LAMBDA_TIMEOUT_SECONDS,
    RULE_MAX_EVENT_AGE_SECONDS,
    RULE_RETRY_ATTEMPTS,
    SQS_RETENTION_DAYS,
    LogLevel,
    Naming,
    PlatformLogLevel,
    check,
    enum_problems,
    exclusive,
    knob,
    log_retention,
    pin_feature_flags,
    range_problems,
)
from .core_function import PersistenceCore, core_function, resolve_table
from .event_bus import EVERY_EVENT, EventBus
from .event_table import EventTable
from .nag import acknowledge
from .network import FunctionNetwork
from .secure_queue import SecureQueue
from .standalone_core import claim_check_bucket
from .targets import SendOnlyQueueDestination


@dataclass(frozen=True, kw_only=True)
class PersisterProps:
    """The persister function's tunables, retries and contract. Defaults are production-grade."""

    memory_mb: int = knob(256, "Lambda memory (arm64)", within=LAMBDA_MEMORY_MB)
    timeout_seconds: int = knob(30, "Lambda timeout", within=LAMBDA_TIMEOUT_SECONDS)
    reserved_concurrency: int | None = knob(
        None, "reserved concurrency (None: unreserved)", within=LAMBDA_RESERVED_CONCURRENCY
    )
    log_retention_days: int = knob(365, "function log retention")
    log_level: LogLevel = knob(LogLevel.INFO, "Powertools log level")
    platform_log_level: PlatformLogLevel = knob(
        PlatformLogLevel.WARN, "Lambda system log level (WARN drops START/END/REPORT lines: cost)"
    )
    active_tracing: bool = knob(
        False,
        "X-Ray Active: Lambda samples 5 % itself ($0.25 per million); off: PassThrough, "
        "traced only when the producer's trace is sampled",
    )
    detailed_tracing: bool = knob(
        False, "X-Ray subsegments per AWS call (adds the X-Ray SDK to cold start)"
    )
    powertools_version: str = knob("3.37.0", "official Powertools layer version (= pip pin)")
    async_retry_attempts: int = knob(
        2, "Lambda async retries before the failure queue", within=(0, 2, "Lambda")
    )
    async_max_event_age_seconds: int = knob(
        6 * 3600, "Lambda async maximum event age", within=(60, 6 * 3600, "Lambda limit")
    )
    rule_retry_attempts: int = knob(
        185, "EventBridge target retries before its DLQ", within=RULE_RETRY_ATTEMPTS
    )
    rule_max_event_age_seconds: int = knob(
        24 * 3600, "EventBridge target maximum event age", within=RULE_MAX_EVENT_AGE_SECONDS
    )
    queue_retention_days: int = knob(
        14, "retention of the conflicts and failure queues", within=SQS_RETENTION_DAYS
    )
    follow_up_rules: tuple[spec.FollowUpRule, ...] = knob(
        spec.DEFAULT_FOLLOW_UP_RULES, "event-name suffix -> follow-up type it yields"
    )
    follow_up_source: str | None = knob(
        None, "source of follow-ups (None: `{prefix}.event-persister`)"
    )
    contract: spec.ContractPaths = knob(spec.ContractPaths(), "the data contract's paths (below)")
    claim_check_noncurrent_days: int = knob(
        7,
        "days a replaced claim-check object version is kept (each redelivery writes one)",
        within=(1, 3650, "S3 lifecycle"),
    )
    retain: bool = knob(True, "RETAIN the claim-check bucket it creates (when it creates one)")

    def __post_init__(self) -> None:
        problems = range_problems(self)
        problems += enum_problems(self)
        try:
            spec.check_follow_up_rules(self.follow_up_rules)
        except spec.SpecError as exc:
            problems.append(str(exc))
        try:
            log_retention(self.log_retention_days)
        except ValueError as exc:
            problems.append(str(exc))
        check(problems, "PersisterProps")


class Persister(Construct):
    """Persister function, its rule on the bus, and every queue that keeps what it cannot store.

    ``Persister(self, "P", event_bus=bus, table=table)`` is a whole call: the claim-check
    bucket, the queues, the role and the log group are created with secure defaults.
    ``event_bus`` and ``table`` may be this library's ``EventBus`` / ``EventTable`` or any
    ``IEventBus`` / ``ITable``; given an ``EventBus``, the follow-up source is reserved on it
    for this function alone. ``existing_payload_bucket`` XOR ``payload_bucket_props``.

    Least privilege, written out: ``dynamodb:PutItem`` on the table, ``events:PutEvents`` on the
    bus, ``s3:PutObject`` on the payload prefix, ``sqs:SendMessage`` on the conflicts and
    failure queues, and its own log group and X-Ray.

    Queues:
      ``conflicts_queue``  events whose unique_id is stored with a different event
      ``failure_queue``    events the function failed on after Lambda's async retries
                           (malformed ones included, with the error message as the reason)
      ``undeliverable_queue``  events EventBridge could not deliver to the function at all
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | EventBus,
        table: dynamodb.ITable | EventTable,
        existing_payload_bucket: s3.IBucket | None = None,
        payload_bucket_props: Mapping[str, Any] | None = None,
        naming: Naming | None = None,
        props: PersisterProps | None = None,
        encryption_key: kms.IKey | None = None,
        network: FunctionNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        exclusive(
            "Persister",
            existing_payload_bucket=existing_payload_bucket,
            payload_bucket_props=payload_bucket_props,
        )
        self.props = props = props or PersisterProps()
        bus = event_bus.bus if isinstance(event_bus, EventBus) else event_bus
        table, key_attributes = resolve_table(table)
        self.follow_up_source = props.follow_up_source or spec.follow_up_source(
            naming.prefix if naming else DEFAULT_PREFIX
        )
        self.follow_up_rules = props.follow_up_rules
        self.follow_up_detail_types = tuple(r.detail_type for r in props.follow_up_rules)
        self.metrics_namespace = spec.metrics_namespace(naming.prefix if naming else DEFAULT_PREFIX)
        queue_retention = Duration.days(props.queue_retention_days)

        def dead_letter_queue(cid: str, suffix: str, what: str) -> SecureQueue:
            return SecureQueue(
                self,
                cid,
                queue_name=f"{naming.of('persister')}-{suffix}" if naming else None,
                retention=queue_retention,
                dead_letter_of=what,
                encryption_key=encryption_key,
            )

        self.conflicts_queue = dead_letter_queue(
            "Conflicts",
            "conflicts",
            "events whose unique_id is stored with another event",
        ).queue
        self.failure_queue = dead_letter_queue(
            "Failures",
            "failed",
            "events the persister failed on after Lambda's retries",
        ).queue
        self.undeliverable_queue = dead_letter_queue(
            "Undeliverable",
            "undeliverable",
            "events EventBridge could not deliver to it",
        ).queue

        self.payload_bucket = claim_check_bucket(
            self,
            existing=existing_payload_bucket,
            bucket_props=payload_bucket_props,
            retain=props.retain,
            noncurrent_days=props.claim_check_noncurrent_days,
            encryption_key=encryption_key,
        )
        self.core = PersistenceCore(
            table=table,
            key_attributes=key_attributes,
            event_bus=event_bus,
            conflicts_queue=self.conflicts_queue,
            payload_bucket=self.payload_bucket,
            follow_up_source=self.follow_up_source,
            follow_up_rules=props.follow_up_rules,
            contract=props.contract,
            metrics_namespace=self.metrics_namespace,
        )
        built = core_function(
            self,
            core=self.core,
            handler="persister",
            function_name=naming.persister_function if naming else None,
            description="Persists every event on the bus exactly once; emits follow-ups",
            role_description=(
                "Event persister: PutItem, PutEvents, claim-check PutObject, SendMessage"
            ),
            knobs=props,
            # Lambda's own sampling is a fixed 5 % and reads no X-Ray sampling rules: at volume
            # that is $0.25 per million events. PassThrough traces only what a sampled producer
            # started (EventBridge carries the trace header), so a traced request is still
            # followed end to end.
            tracing=(
                lambda_.Tracing.ACTIVE if props.active_tracing else lambda_.Tracing.PASS_THROUGH
            ),
            detailed_tracing=props.detailed_tracing,
            reserved_concurrency=props.reserved_concurrency,
            encryption_key=encryption_key,
            network=network,
            scan_skips={
                "CKV_AWS_116": "Async failures go to an on-failure destination (failure_queue), "
                "which keeps the error that a DLQ would drop.",
                "CKV_AWS_115": "Reserved concurrency caps throughput and takes from the account "
                "pool; set reserved_concurrency in PersisterProps when needed.",
                "CKV_AWS_173": "The environment holds resource names and contract paths, no "
                "secrets; Lambda encrypts it at rest with its service key.",
            },
            retry_attempts=props.async_retry_attempts,
            max_event_age=Duration.seconds(props.async_max_event_age_seconds),
            on_failure=SendOnlyQueueDestination(self.failure_queue),
        )
        self.function, self.role, self.log_group = built.function, built.role, built.log_group
        self.network = network
        self.endpoints = built.endpoints
        if not props.active_tracing:
            acknowledge(
                self.function,
                "Serverless-LambdaTracing",
                "PassThrough: a producer's sampled trace is followed through the function; "
                "Lambda's own fixed 5 % sampling (no sampling rules) costs $0.25 per million "
                "events, so it is opt-in (PersisterProps.active_tracing, on in dev).",
            )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Async failures go to an on-failure destination (failure_queue), which keeps the "
            "error message and request context that a plain DLQ would drop.",
        )

        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="Every event on the bus, to the persister",
            event_pattern=EVERY_EVENT,
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.undeliverable_queue,
                    retry_attempts=props.rule_retry_attempts,
                    max_event_age=Duration.seconds(props.rule_max_event_age_seconds),
                )
            ],
        )
