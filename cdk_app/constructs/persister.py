"""The persister: a Python Lambda that stores every event on the bus exactly once."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import (
    CfnDynamicReference,
    CfnDynamicReferenceService,
    Duration,
    RemovalPolicy,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..config import DataContract
from .event_archive import LOGS_WITHOUT_PAYLOADS
from .event_bus import EVERY_EVENT
from .nag import acknowledge, logical_id, skip_scan
from .secure_queue import SecureQueue
from .targets import SendOnlyQueueDestination


def _lambdas_dir() -> Path:
    """The folder holding the ``persister`` package: lambdas/ in a checkout, or the installed
    ``kahula_lambdas`` folder when the library was pip-installed."""
    checkout = Path(__file__).resolve().parents[2] / "lambdas"
    if (checkout / "persister" / "handler.py").is_file():
        return checkout
    spec = importlib.util.find_spec("kahula_lambdas")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the persister's code (kahula_lambdas) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# Runtime code lives in lambdas/ (package ``persister``); it imports nothing from aws_cdk.
LAMBDAS_DIR = _lambdas_dir()
HANDLER = "persister.handler.lambda_handler"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ASSET_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/requirements*.txt",
    "**/.pytest_cache",
]


def powertools_layer_arn_parameter(version: str, runtime: lambda_.Runtime) -> str:
    """The public SSM parameter where AWS publishes the official Powertools layer ARN.

    Resolved by CloudFormation at deploy time, in the stack's own region, so the exact pinned
    version is used everywhere without a synth-time AWS call or a hard-coded layer number.
    """
    return f"/aws/service/powertools/python/arm64/{runtime.name}/{version}"


class Persister(Construct):
    """Persister function, its rule on the bus, and every queue that keeps what it cannot store.

    Least privilege, written out: ``dynamodb:PutItem`` on the table, ``events:PutEvents`` on the
    bus, ``s3:PutObject`` on the payload prefix, ``sqs:SendMessage`` on the conflicts and
    failure queues, and its own log group and X-Ray.

    Queues:
      ``conflicts_queue``  events whose unique_id is stored with a different payload
      ``failure_queue``    events the function failed on after Lambda's async retries
                           (malformed ones included, with the error message as the reason)
      ``undeliverable_queue``  events EventBridge could not deliver to the function at all
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus,
        table: dynamodb.ITable,
        payload_bucket: s3.IBucket,
        payload_prefix: str,
        function_name: str,
        queue_name_prefix: str,
        follow_up_source: str,
        contract: DataContract,
        service_name: str,
        metrics_namespace: str,
        memory_mb: int,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        log_level: str,
        detailed_tracing: bool,
        platform_log_level: str = "WARN",
        powertools_version: str,
        async_retry_attempts: int,
        async_max_event_age: Duration,
        rule_retry_attempts: int,
        rule_max_event_age: Duration,
        queue_retention: Duration,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        def dead_letter_queue(cid: str, suffix: str, what: str) -> SecureQueue:
            return SecureQueue(
                self,
                cid,
                queue_name=f"{queue_name_prefix}-{suffix}",
                retention=queue_retention,
                dead_letter_of=what,
            )

        self.conflicts_queue = dead_letter_queue(
            "Conflicts",
            "conflicts",
            "events whose unique_id is stored with another payload",
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

        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{function_name}: PutItem, PutEvents, claim-check PutObject, SendMessage",
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
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="StoreOversizePayloads",
                actions=["s3:PutObject"],
                resources=[payload_bucket.arn_for_objects(f"{payload_prefix.strip('/')}/*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="QuarantineConflicts",
                actions=["sqs:SendMessage"],
                resources=[self.conflicts_queue.queue_arn],
            )
        )
        event_bus.grant_put_events_to(self.role)

        layer_arn = CfnDynamicReference(
            CfnDynamicReferenceService.SSM,
            powertools_layer_arn_parameter(powertools_version, RUNTIME),
        ).to_string()
        environment: Mapping[str, str] = {
            "TABLE_NAME": table.table_name,
            "EVENT_BUS_NAME": event_bus.event_bus_name,
            "CONFLICTS_QUEUE_URL": self.conflicts_queue.queue_url,
            "PAYLOAD_BUCKET": payload_bucket.bucket_name,
            "PAYLOAD_PREFIX": payload_prefix.strip("/"),
            "FOLLOW_UP_SOURCE": follow_up_source,
            "EVENT_ID_PATH": contract.event_id_path,
            "DOMAIN_PATH": contract.domain_path,
            "SAGA_ID_PATH": contract.saga_id_path,
            "MBOCDP_ID_PATH": contract.mbocdp_id_path,
            "HASH_EXCLUDED_PATHS": ",".join(contract.hash_excluded_paths),
            "MAX_INLINE_ITEM_BYTES": str(contract.max_inline_item_bytes),
            "POWERTOOLS_SERVICE_NAME": service_name,
            "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_TRACE_DISABLED": "false" if detailed_tracing else "true",
        }
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description="Persists every event on the bus exactly once; emits follow-ups",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=ASSET_EXCLUDES),
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)],
            memory_size=memory_mb,
            timeout=timeout,
            role=self.role,
            log_group=self.log_group,
            # JSON logs; the platform's START/END/REPORT lines only at platform_log_level.
            logging_format=lambda_.LoggingFormat.JSON,
            system_log_level_v2=getattr(lambda_.SystemLogLevel, platform_log_level),
            application_log_level_v2=getattr(
                lambda_.ApplicationLogLevel, {"WARNING": "WARN"}.get(log_level, log_level)
            ),
            tracing=lambda_.Tracing.ACTIVE,
            environment=dict(environment),
            reserved_concurrent_executions=reserved_concurrency,
            retry_attempts=async_retry_attempts,
            max_event_age=async_max_event_age,
            on_failure=SendOnlyQueueDestination(self.failure_queue),
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::<{logical_id(payload_bucket)}.Arn>/"
            f"{payload_prefix.strip('/')}/*]",
            "PutObject only, under the claim-check prefix; keys are content hashes made at "
            "run time, so they cannot be listed in the policy.",
        )
        skip_scan(self.log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
        for check, reason in {
            "CKV_AWS_116": "Async failures go to an on-failure destination (failure_queue), which "
            "keeps the error that a DLQ would drop.",
            "CKV_AWS_117": "The function calls only AWS APIs over TLS; a VPC would add NAT or "
            "endpoint cost and cold-start time and protect nothing here.",
            "CKV_AWS_115": "Reserved concurrency caps throughput and takes from the account "
            "pool; set persister_reserved_concurrency per environment when needed.",
            "CKV_AWS_173": "The environment holds resource names and contract paths, no "
            "secrets; Lambda encrypts it at rest with its service key.",
        }.items():
            skip_scan(self.function, "checkov", check, reason)
        skip_scan(
            self.function,
            "cfn-lint",
            "W3005",
            "CDK orders the function after its role and the role's policy; the role part is "
            "redundant with Fn::GetAtt, the policy part is needed.",
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
            event_bus=event_bus,
            description="Every event on the bus, to the persister",
            event_pattern=EVERY_EVENT,
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.undeliverable_queue,
                    retry_attempts=rule_retry_attempts,
                    max_event_age=rule_max_event_age,
                )
            ],
        )
