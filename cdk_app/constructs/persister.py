"""The persister: a Python Lambda that stores every event on the bus exactly once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from kahula_core import spec

from .common import (
    DEFAULT_PREFIX,
    LogLevel,
    Naming,
    PlatformLogLevel,
    check,
    exclusive,
    in_range,
    knob,
    log_retention,
    pin_feature_flags,
)
from .encryption import use_through
from .event_bus import EVERY_EVENT, EventBus
from .event_table import EventTable
from .function_code import HANDLERS, RUNTIME, function_code, powertools_layer
from .nag import LOGS_WITHOUT_PAYLOADS, acknowledge, control, nag_resource, skip_scan
from .network import FunctionNetwork, add_endpoints
from .secure_bucket import secure_bucket
from .secure_queue import SecureQueue
from .targets import SendOnlyQueueDestination


@dataclass(frozen=True, kw_only=True)
class PersisterProps:
    """The persister function's tunables, retries and contract. Defaults are production-grade."""

    memory_mb: int = knob(256, "Lambda memory (arm64)")
    timeout_seconds: int = knob(30, "Lambda timeout")
    reserved_concurrency: int | None = knob(None, "reserved concurrency (None: unreserved)")
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
    async_retry_attempts: int = knob(2, "Lambda async retries before the failure queue")
    async_max_event_age_seconds: int = knob(6 * 3600, "Lambda async maximum event age")
    rule_retry_attempts: int = knob(185, "EventBridge target retries before its DLQ")
    rule_max_event_age_seconds: int = knob(24 * 3600, "EventBridge target maximum event age")
    queue_retention_days: int = knob(14, "retention of the conflicts and failure queues")
    follow_up_rules: tuple[spec.FollowUpRule, ...] = knob(
        spec.DEFAULT_FOLLOW_UP_RULES, "event-name suffix -> follow-up type it yields"
    )
    follow_up_source: str | None = knob(
        None, "source of follow-ups (None: `{prefix}.event-persister`)"
    )
    contract: spec.ContractPaths = knob(spec.ContractPaths(), "the data contract's paths (below)")
    claim_check_noncurrent_days: int = knob(
        7, "days a replaced claim-check object version is kept (each redelivery writes one)"
    )
    retain: bool = knob(True, "RETAIN the claim-check bucket it creates (when it creates one)")

    def __post_init__(self) -> None:
        problems: list[str] = []
        in_range(problems, "memory_mb", self.memory_mb, low=128, high=10240, why="Lambda limit")
        in_range(
            problems, "timeout_seconds", self.timeout_seconds, low=1, high=900, why="Lambda limit"
        )
        in_range(
            problems, "async_retry_attempts", self.async_retry_attempts, low=0, high=2, why="Lambda"
        )
        in_range(
            problems,
            "async_max_event_age_seconds",
            self.async_max_event_age_seconds,
            low=60,
            high=6 * 3600,
            why="Lambda limit",
        )
        in_range(
            problems,
            "rule_retry_attempts",
            self.rule_retry_attempts,
            low=0,
            high=185,
            why="EventBridge",
        )
        in_range(
            problems,
            "rule_max_event_age_seconds",
            self.rule_max_event_age_seconds,
            low=60,
            high=24 * 3600,
            why="EventBridge limit",
        )
        in_range(
            problems,
            "queue_retention_days",
            self.queue_retention_days,
            low=1,
            high=14,
            why="SQS limit",
        )
        in_range(
            problems,
            "claim_check_noncurrent_days",
            self.claim_check_noncurrent_days,
            low=1,
            high=3650,
            why="S3 lifecycle",
        )
        if self.reserved_concurrency is not None:
            in_range(
                problems,
                "reserved_concurrency",
                self.reserved_concurrency,
                low=1,
                high=10_000,
                why="Lambda",
            )
        if not isinstance(self.log_level, LogLevel):
            problems.append(f"log_level must be a LogLevel, got {self.log_level!r}")
        if not isinstance(self.platform_log_level, PlatformLogLevel):
            problems.append(
                f"platform_log_level must be a PlatformLogLevel, got {self.platform_log_level!r}"
            )
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
        key_attributes = (
            table.key_attributes if isinstance(table, EventTable) else (("unique_id", "HASH"),)
        )
        table = table.table if isinstance(table, EventTable) else table
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

        if existing_payload_bucket is not None:
            self.payload_bucket = existing_payload_bucket
        else:
            self.payload_bucket = secure_bucket(
                self,
                "PayloadBucket",
                access_log_bucket_id="PayloadAccessLogBucket",
                access_log_prefix="payload-bucket/",
                retain=props.retain,
                bucket_props=payload_bucket_props,
                encryption_key=encryption_key,
                no_object_lock_reason=(
                    "Claim checks are copies of details whose record is the table (with PITR); "
                    "lock the archive bucket instead and pass it as existing_payload_bucket."
                ),
            ).bucket
        prefix = spec.PAYLOADS_PREFIX
        if isinstance(self.payload_bucket, s3.Bucket):
            # Every redelivery of an oversize event rewrites its (content-addressed) object,
            # and versioning keeps each replaced version: expire them.
            self.payload_bucket.add_lifecycle_rule(
                id="expire-replaced-claim-checks",
                prefix=f"{prefix}/",
                noncurrent_version_expiration=Duration.days(props.claim_check_noncurrent_days),
            )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(props.log_retention_days),
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        function_name = naming.persister_function if naming else None
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Event persister: PutItem, PutEvents, claim-check PutObject, SendMessage",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        # Written by hand: Table.grant() would add the index ARNs, and no grant is PutItem-only.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PutNewItemsOnly",
                actions=["dynamodb:PutItem"],
                resources=[table.table_arn],
            )
        )
        payload_objects = self.payload_bucket.arn_for_objects(f"{prefix}/*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="StoreOversizePayloads",
                actions=["s3:PutObject"],
                resources=[payload_objects],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="QuarantineConflicts",
                actions=["sqs:SendMessage"],
                resources=[self.conflicts_queue.queue_arn],
            )
        )
        bus.grant_put_events_to(self.role)
        if encryption_key is not None:
            # Conflicts and failures go to SSE-KMS queues, claim checks to an SSE-KMS bucket.
            self.role.add_to_policy(use_through(encryption_key, "sqs", "s3"))
        if isinstance(event_bus, EventBus):
            event_bus.reserve_source(self.follow_up_source, self.role)

        environment: dict[str, str] = {
            spec.Env.TABLE_NAME: table.table_name,
            spec.Env.EVENT_BUS_NAME: bus.event_bus_name,
            spec.Env.CONFLICTS_QUEUE_URL: self.conflicts_queue.queue_url,
            spec.Env.PAYLOAD_BUCKET: self.payload_bucket.bucket_name,
            spec.Env.PAYLOAD_PREFIX: prefix,
            spec.Env.FOLLOW_UP_SOURCE: self.follow_up_source,
            spec.Env.FOLLOW_UP_RULES: spec.encode_follow_up_rules(props.follow_up_rules),
            spec.Env.INDEXED_ATTRIBUTES: spec.encode_indexed_attributes(key_attributes),
            **props.contract.to_environment(),
            spec.Env.POWERTOOLS_SERVICE_NAME: spec.PERSISTER_SERVICE_NAME,
            spec.Env.POWERTOOLS_METRICS_NAMESPACE: self.metrics_namespace,
            spec.Env.POWERTOOLS_LOG_LEVEL: props.log_level.value,
            spec.Env.POWERTOOLS_TRACE_DISABLED: "false" if props.detailed_tracing else "true",
        }
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Persists every event on the bus exactly once; emits follow-ups",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLERS["persister"],
            code=function_code(),
            layers=[powertools_layer(self, "Powertools", props.powertools_version)],
            memory_size=props.memory_mb,
            timeout=Duration.seconds(props.timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            # JSON logs; the platform's START/END/REPORT lines only at platform_log_level.
            logging_format=lambda_.LoggingFormat.JSON,
            system_log_level_v2=getattr(lambda_.SystemLogLevel, props.platform_log_level.value),
            application_log_level_v2=getattr(
                lambda_.ApplicationLogLevel,
                {"WARNING": "WARN"}.get(props.log_level.value, props.log_level.value),
            ),
            # Lambda's own sampling is a fixed 5 % and reads no X-Ray sampling rules: at volume
            # that is $0.25 per million events. PassThrough traces only what a sampled producer
            # started (EventBridge carries the trace header), so a traced request is still
            # followed end to end.
            tracing=(
                lambda_.Tracing.ACTIVE if props.active_tracing else lambda_.Tracing.PASS_THROUGH
            ),
            environment=environment,
            reserved_concurrent_executions=props.reserved_concurrency,
            retry_attempts=props.async_retry_attempts,
            max_event_age=Duration.seconds(props.async_max_event_age_seconds),
            on_failure=SendOnlyQueueDestination(self.failure_queue),
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnet_selection() if network else None,
            security_groups=list(network.security_groups) or None if network else None,
        )
        self.network = network
        self.endpoints = (
            add_endpoints(self, network) if network is not None and network.add_endpoints else None
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, payload_objects)}]",
            "PutObject only, under the claim-check prefix; keys are content hashes made at "
            "run time, so they cannot be listed in the policy.",
        )
        if encryption_key is None:
            skip_scan(self.log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
            acknowledge(self.log_group, control("CT.CLOUDWATCH.PR.3"), LOGS_WITHOUT_PAYLOADS)
        outside_vpc = (
            "The function calls only AWS APIs over TLS; a VPC would add endpoint cost and "
            "cold-start time and protect nothing here (pass network= to run it in one)."
        )
        if network is None:
            acknowledge(self.function, control("CT.LAMBDA.PR.3"), outside_vpc)
            skip_scan(self.function, "checkov", "CKV_AWS_117", outside_vpc)
        else:
            acknowledge(
                self.role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "Lambda attaches the function to the VPC through ENIs; AWS's managed policy holds "
                "exactly the EC2 network-interface actions it needs, which allow no scoping.",
            )
        for check_id, reason in {
            "CKV_AWS_116": "Async failures go to an on-failure destination (failure_queue), which "
            "keeps the error that a DLQ would drop.",
            "CKV_AWS_115": "Reserved concurrency caps throughput and takes from the account "
            "pool; set reserved_concurrency in PersisterProps when needed.",
            "CKV_AWS_173": "The environment holds resource names and contract paths, no "
            "secrets; Lambda encrypts it at rest with its service key.",
        }.items():
            skip_scan(self.function, "checkov", check_id, reason)
        skip_scan(
            self.function,
            "cfn-lint",
            "W3005",
            "CDK orders the function after its role and the role's policy; the role part is "
            "redundant with Fn::GetAtt, the policy part is needed.",
        )
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
